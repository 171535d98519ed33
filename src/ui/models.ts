import { DEFAULT_MODEL } from '../worker/protocol.ts';

/** The context length loads use unless the user picked another (the worker caps it at the model's own). */
export const CHAT_CONTEXT_LENGTH = 4096;

/** The lengths offered; a model trained for less also gets its own maximum. */
export const CONTEXT_CHOICES = [1024, 2048, 4096] as const;

/** KV cache bytes per position of Phi-3-mini: 32 layers x 2 (K, V) x 32 kvHeads x 96 headDim x 2 bytes (f16). */
export const PHI3_MINI_KV_BYTES_PER_TOKEN = 32 * 2 * 32 * 96 * 2;

/**
 * GPU memory a model needs while chatting: the weights (about the file size) plus the f16 KV cache,
 * which grows with the context length; Phi-3-mini at 4096 positions: 393216 x 4096 = 1.61 GB. A
 * model's own KV size is known once it has been loaded (rememberedKv); before that, Phi-3-mini's.
 */
export function gpuBytesNeeded(fileBytes: number, contextLength: number, kvBytesPerToken = PHI3_MINI_KV_BYTES_PER_TOKEN): number {
  return fileBytes + kvBytesPerToken * contextLength;
}

const KV_KEY = 'phi3.kvBytesPerToken';

/** The KV bytes per position measured when model `id` was last loaded, if it was. */
export function rememberedKv(id: string): number | undefined {
  try {
    const v = (JSON.parse(localStorage.getItem(KV_KEY) ?? '{}') as Record<string, unknown>)[id];
    return typeof v === 'number' && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

export function rememberKv(id: string, bytesPerToken: number): void {
  try {
    const all = JSON.parse(localStorage.getItem(KV_KEY) ?? '{}') as Record<string, number>;
    all[id] = bytesPerToken;
    localStorage.setItem(KV_KEY, JSON.stringify(all));
  } catch {
    // private mode or a damaged entry: the estimate is used instead
  }
}

/** The context lengths to offer for a model trained for `modelMax` tokens (unknown: all of them). */
export function contextChoices(modelMax?: number): number[] {
  if (!modelMax || modelMax <= 0) return [...CONTEXT_CHOICES];
  const fit = CONTEXT_CHOICES.filter((n) => n <= modelMax);
  return fit.length && fit[fit.length - 1] === modelMax ? fit : [...fit, modelMax];
}

/** What a load with preference `wanted` gets for a model trained for `modelMax` tokens. */
export function effectiveContext(wanted: number, modelMax?: number): number {
  return modelMax && modelMax > 0 ? Math.min(wanted, modelMax) : wanted;
}

const CONTEXT_KEY = 'phi3.contextLength';

/** The remembered choice (localStorage); the default when none, or when it is not a valid length. */
export function rememberedContext(): number {
  try {
    const n = Number(localStorage.getItem(CONTEXT_KEY));
    return Number.isInteger(n) && n >= 16 && n <= 131072 ? n : CHAT_CONTEXT_LENGTH;
  } catch {
    return CHAT_CONTEXT_LENGTH;
  }
}

export function rememberContext(n: number): void {
  try {
    localStorage.setItem(CONTEXT_KEY, String(n));
  } catch {
    // private mode: the default applies next time
  }
}

/** What the model picker shows for the default model (the registry's entry). */
export const DEFAULT_MODEL_CARD = {
  displayName: DEFAULT_MODEL.displayName,
  quant: DEFAULT_MODEL.quant ?? '',
  url: DEFAULT_MODEL.url,
  approxBytes: DEFAULT_MODEL.bytes ?? DEFAULT_MODEL.approxBytes ?? 0,
  license: DEFAULT_MODEL.license ?? 'see the model page',
  homepage: DEFAULT_MODEL.homepage ?? DEFAULT_MODEL.url,
  contextLength: DEFAULT_MODEL.contextLength ?? CHAT_CONTEXT_LENGTH,
} as const;
