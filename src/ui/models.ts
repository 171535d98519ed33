import { DEFAULT_CONTEXT_LENGTH } from '../common/catalog.ts';

/** The lengths offered; a model trained for less also gets its own maximum. */
const CONTEXT_CHOICES = [1024, 2048, 4096] as const;

/**
 * GPU memory a model needs while chatting: the weights (about the file size) plus the KV cache,
 * which grows with the context length (Phi-3-mini at 4096 positions: 393,216 x 4096 = 1.61 GB).
 * `kvBytesPerToken` comes from the worker: the stored header's, the loaded model's or the catalog's.
 */
export function gpuBytesNeeded(fileBytes: number, contextLength: number, kvBytesPerToken: number): number {
  return fileBytes + kvBytesPerToken * contextLength;
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
    return Number.isInteger(n) && n >= 16 && n <= 131072 ? n : DEFAULT_CONTEXT_LENGTH;
  } catch {
    return DEFAULT_CONTEXT_LENGTH;
  }
}

export function rememberContext(n: number): void {
  try {
    localStorage.setItem(CONTEXT_KEY, String(n));
  } catch {
    // private mode: the default applies next time
  }
}
