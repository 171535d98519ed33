import { DEFAULT_CONTEXT_LENGTH } from '../common/catalog.ts';
import { kvBytesPerToken, kvLayerBytes, kvTypeProblem, type KvShape, type KvType } from '../common/kv.ts';
import { checkFit, type DeviceBudget, type Fit } from './fit.ts';

/** The lengths offered, each up to the model's own; a model trained for a length not listed also gets it. */
const CONTEXT_CHOICES = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072] as const;
/** Offered to a model whose trained length is unknown (a custom URL before download). */
const SHORT_CHOICES = CONTEXT_CHOICES.filter((n) => n <= DEFAULT_CONTEXT_LENGTH);

/**
 * Above this many positions the automatic choice keeps the cache in 8 bits: past it a 16-bit cache
 * outweighs a mini's weights (Phi-3-mini at 8K: 3.22 GB of cache beside 2.39 GB of weights; 1.71
 * GB in q8_0). q8_0 rounds each value to 8 bits under an f16 scale per 32 (llama.cpp's
 * `-ctk q8_0`), which moves the logits slightly; up to 4K the 16-bit cache is kept where it fits.
 */
export const AUTO_8BIT_ABOVE = 4096;

/** The user's "KV cache precision" setting: automatic, or one of the KV types. */
export type KvPreference = 'auto' | KvType;
export const KV_PREFERENCES: readonly KvPreference[] = ['auto', 'f16', 'q8_0'];

/** "16-bit", "8-bit": the KV types as the settings name them. */
export function kvTypeLabel(t: KvType): string {
  return t === 'f16' ? '16-bit' : '8-bit';
}

/**
 * GPU memory a model needs while chatting: the weights (about the file size) plus the KV cache,
 * which grows with the context length (Phi-3-mini at 4096 positions: 393,216 x 4096 = 1.61 GB in f16).
 */
export function gpuBytesNeeded(fileBytes: number, contextLength: number, kvBytesPerToken: number): number {
  return fileBytes + kvBytesPerToken * contextLength;
}

/** The context lengths to offer for a model trained for `modelMax` tokens (unknown: up to 4K). */
export function contextChoices(modelMax?: number): number[] {
  if (!modelMax || modelMax <= 0) return [...SHORT_CHOICES];
  const fit = CONTEXT_CHOICES.filter((n) => n <= modelMax);
  return fit.length && fit[fit.length - 1] === modelMax ? fit : [...fit, modelMax];
}

/** What a load with preference `wanted` gets for a model trained for `modelMax` tokens. */
export function effectiveContext(wanted: number, modelMax?: number): number {
  return modelMax && modelMax > 0 ? Math.min(wanted, modelMax) : wanted;
}

/** The GPU side of a model at one context and KV type: its memory and whether this device holds it. */
export interface KvOption {
  contextLength: number;
  kvType: KvType;
  /** The whole KV cache. */
  kvBytes: number;
  /** Weights plus KV cache. */
  gpuBytes: number;
  /** GPU limits only (no download): the layer buffer against the largest buffer, the total against the reported RAM. */
  fit: Fit;
}

export function kvOption(fileBytes: number, shape: KvShape, contextLength: number, kvType: KvType, budget: DeviceBudget): KvOption {
  const kvBytes = kvBytesPerToken(shape, kvType) * contextLength;
  const gpuBytes = fileBytes + kvBytes;
  const fit = checkFit({ downloadBytes: 0, gpuBytes, contextLength, kvLayerBytes: kvLayerBytes(shape, contextLength, kvType) }, { ...budget, freeStorage: undefined });
  return { contextLength, kvType, kvBytes, gpuBytes, fit };
}

const RANK: Record<Fit['verdict'], number> = { fits: 0, 'may-not-fit': 1, 'will-not-fit': 2 };

/**
 * The KV type a load uses: the user's choice when it is one, else 8 bits when the context is above
 * 4K (AUTO_8BIT_ABOVE) or when 16 bits would not fit the device and 8 bits would fit it better;
 * 16 bits otherwise. A model whose head size q8_0 blocks would straddle gets 16 bits either way.
 * Without the model's shape nothing can be estimated: 16 bits.
 */
export function kvChoice(pref: KvPreference, shape: KvShape | undefined, contextLength: number, fileBytes: number, budget: DeviceBudget): KvType {
  if (!shape || kvTypeProblem(shape, 'q8_0')) return 'f16';
  if (pref !== 'auto') return pref;
  if (contextLength > AUTO_8BIT_ABOVE) return 'q8_0';
  const f16 = kvOption(fileBytes, shape, contextLength, 'f16', budget).fit.verdict;
  const q8 = kvOption(fileBytes, shape, contextLength, 'q8_0', budget).fit.verdict;
  return RANK[q8] < RANK[f16] ? 'q8_0' : 'f16';
}

/** Every context length offered for a model, each with the KV type `pref` gives it there, its memory and its fit. */
export function contextOptions(fileBytes: number, shape: KvShape, modelMax: number | undefined, pref: KvPreference, budget: DeviceBudget): KvOption[] {
  return contextChoices(modelMax).map((n) => kvOption(fileBytes, shape, n, kvChoice(pref, shape, n, fileBytes, budget), budget));
}

/**
 * The most positions a GPU of `gpuBytes` holds for this model in `kvType`, beside the weights
 * (about the file) and `otherBytes` (activations, logits); 0 when the weights alone do not fit.
 */
export function largestContext(fileBytes: number, shape: KvShape, kvType: KvType, gpuBytes: number, otherBytes = 0): number {
  return Math.max(0, Math.floor((gpuBytes - fileBytes - otherBytes) / kvBytesPerToken(shape, kvType)));
}

const CONTEXT_KEY = 'phi3.contextLength';
const KV_KEY = 'phi3.kvPrecision';

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

/** The remembered KV cache precision; automatic when none, or when the stored value is not one. */
export function rememberedKvPreference(): KvPreference {
  try {
    const v = localStorage.getItem(KV_KEY);
    return KV_PREFERENCES.find((p) => p === v) ?? 'auto';
  } catch {
    return 'auto';
  }
}

export function rememberKvPreference(p: KvPreference): void {
  try {
    localStorage.setItem(KV_KEY, p);
  } catch {
    // private mode: automatic applies next time
  }
}
