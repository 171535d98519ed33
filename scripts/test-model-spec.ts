/**
 * What a generated phi3 test model contains: presets (shapes), type mixes (which ggml type each
 * tensor gets, following llama.cpp's rules for that file type) and the metadata keys that the
 * real Phi-3 GGUF carries (PHI3.md 3.2, 3.3).
 */
import { GGMLType } from '../src/model/gguf-types.ts';
import { moreBitsLayer, q4KMType } from '../src/model/quant-mix.ts';

export interface Preset {
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  ffnDim: number;
  contextLength: number;
  /** Rotated dims per head (phi3.rope.dimension_count); the head size when absent. */
  ropeDim?: number;
  /** No output.weight: the logits use token_embd (Phi-4-mini). */
  tiedOutput?: boolean;
  /** LongRoPE factors and attn_factor (the 128k models), with the original context they extend. */
  longRope?: boolean;
  originalContextLength?: number;
  /** The vocabulary a model of this preset gets unless ModelOptions.vocab names another. */
  vocab?: TestVocab;
}

/** The 128K LongRoPE models all extend an original context of 4096 (PHI3.md 1.2 and "The family"). */
const LONG_128K = { contextLength: 131072, longRope: true, originalContextLength: 4096 } as const;
/** Phi-3-medium's widths (PHI3.md "The family"). */
const MEDIUM = { dim: 5120, nHeads: 40, nKvHeads: 10, ffnDim: 17920 } as const;

export const PRESETS = {
  /** A few MB in the quantized mixes: fast enough for every CI run. K-quants need dim % 256 == 0. */
  tiny: { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 4, ffnDim: 512, contextLength: 512 },
  /** Phi-3's head size (96) and more layers, still small. */
  small: { dim: 768, nLayers: 4, nHeads: 8, nKvHeads: 8, ffnDim: 2048, contextLength: 2048 },
  /** Phi-3-medium's widths in one layer: its Q6_K output.weight (q4_k_m) is 134.7 MB. */
  'medium-wide': { ...MEDIUM, nLayers: 1, contextLength: 4096 },
  /** Phi-3-mini-4k's exact shapes (PHI3.md 1.1). */
  'phi3-mini': { dim: 3072, nLayers: 32, nHeads: 32, nKvHeads: 32, ffnDim: 8192, contextLength: 4096 },
  /** Phi-3.5-mini (and Phi-3-mini-128k): mini's shapes, 128K context with LongRoPE. */
  'phi3.5-mini': { dim: 3072, nLayers: 32, nHeads: 32, nKvHeads: 32, ffnDim: 8192, ...LONG_128K },
  /**
   * Phi-4-mini: head size 128 of which 96 rotate, GQA 24/8, tied output, 128K LongRoPE, and its
   * 200064-token byte-level BPE vocabulary (o200k; `vocab: 'phi3'` gives the same shapes but
   * token_embd's rows).
   */
  'phi4-mini': { dim: 3072, nLayers: 32, nHeads: 24, nKvHeads: 8, ffnDim: 8192, ropeDim: 96, tiedOutput: true, vocab: 'o200k', ...LONG_128K },
  /** Phi-3-medium-4k. */
  'phi3-medium': { ...MEDIUM, nLayers: 40, contextLength: 4096 },
  /** Phi-3-medium-128k. */
  'phi3-medium-128k': { ...MEDIUM, nLayers: 40, ...LONG_128K },
} satisfies Record<string, Preset>;
export type PresetName = keyof typeof PRESETS;

export const MIXES = ['f32', 'q4_0', 'q8_0', 'q4_k_m'] as const;
export type Mix = (typeof MIXES)[number];

/** general.file_type (llama_ftype) of each mix. */
export const FILE_TYPE: Record<Mix, number> = { f32: 0, q4_0: 2, q8_0: 7, q4_k_m: 15 };

export { moreBitsLayer };

/** The ggml type of a 2-D weight under a mix (norms and rope factors are always F32). */
export function weightType(mix: Mix, name: string, layer: number, nLayers: number): GGMLType {
  switch (mix) {
    case 'f32':
      return GGMLType.F32;
    case 'q8_0':
      return GGMLType.Q8_0;
    case 'q4_0':
      // llama-quant.cpp: the output tensor becomes Q6_K unless the target is Q8_0.
      return name === 'output.weight' ? GGMLType.Q6_K : GGMLType.Q4_0;
    case 'q4_k_m':
      return q4KMType(name, layer, nLayers);
  }
}

export interface ModelOptions {
  preset: PresetName;
  mix: Mix;
  seed: number;
  /** Overrides of the preset. */
  contextLength?: number;
  nKvHeads?: number;
  /** phi3.attention.sliding_window; `null` leaves the key out (llama.cpp then applies its fallback). */
  slidingWindow?: number | null;
  /** Adds rope_factors_long/short and phi3.rope.scaling.attn_factor (Phi-3-128k style). */
  longRope?: boolean;
  /** Leaves output.weight out: the logits use token_embd (Phi-4-mini). */
  tiedOutput?: boolean;
  /** phi3.rope.dimension_count: rotate the first ropeDim dims of each head (partial rotary, Phi-4-mini). */
  ropeDim?: number;
  /** Standard deviation of the random part of the logits: larger is more peaked. */
  logitScale?: number;
  /**
   * Strength of a planted bigram: output row pi(t) gets `bigram` x token t's embedding, so after
   * token t the logit of pi(t) rises by about `bigram`. Default 24 where token_embd and output are
   * quantized value by value (tiny), 0 for pooled tensors. Why: llama.cpp's CPU matmuls quantize
   * activations to 8 bits (~1% relative logit error), so with purely random logits about one step
   * in six has a top-2 gap inside that error and "same greedy token as llama.cpp" would be luck;
   * a clear winner makes the top-1 comparison meaningful while the rest of the distribution
   * (compared with a tolerance) still comes from every layer.
   */
  bigram?: number;
  name?: string;
  /**
   * The tokenizer: Phi-3's SentencePiece vocab (default), or a GPT-2 byte-level BPE one
   * (scripts/bpe-vocab.ts): the small learned vocab, or Phi-4-mini's o200k-based 200,064 tokens.
   */
  vocab?: TestVocab;
}

export const TEST_VOCABS = ['phi3', 'bpe-small', 'o200k'] as const;
export type TestVocab = (typeof TEST_VOCABS)[number];

export interface TensorPlan {
  name: string;
  type: GGMLType;
  /** ne: ne[0] (the input dimension) first. */
  dims: number[];
  /** Layer index, or -1. */
  layer: number;
  /** How values are drawn: normal(0, std), or uniform(lo, hi) for norms and rope factors. */
  init: { kind: 'normal'; std: number } | { kind: 'uniform'; lo: number; hi: number };
}

/** A preset with its options applied and everything derived filled in. */
export interface ModelShape extends Required<Omit<Preset, 'vocab'>> {
  headDim: number;
  vocabSize: number;
}

export interface ModelPlan {
  shape: ModelShape;
  tensors: TensorPlan[];
  /** Planted bigram strength (0 = none); see ModelOptions.bigram. */
  bigram: number;
}

/**
 * Tensors larger than this draw their blocks from a pool (make-test-model.ts). Above tiny's
 * 256 x 32064 = 8.2M (quantized value by value), below Phi-3's smallest matrix, 3072 x 3072 = 9.44M
 * (9 * 2^20 exactly, which an earlier `9 * 1024 * 1024` let through to the slow exact path).
 */
export const POOL_THRESHOLD = 9_000_000;

/**
 * Logit scale of a tied output. The hidden state after token t still holds embd[t], so t's own
 * logit stands about 14 standard deviations above the rest in the tiny preset (measured with
 * llama.cpp: a top-2 log-margin of 32 at scale 3): a clear winner, like the planted bigram. At
 * 0.8 that winner has p ~ 0.75 with the rest spread over the vocabulary, so its probability
 * still depends on every layer; at 3 it is 1.00 at every step and would hide any error.
 */
export const TIED_LOGIT_SCALE = 0.8;

/** The planted bigram's successor: a fixed permutation of the vocabulary (7919 is prime). */
export function bigramNext(t: number, vocab: number): number {
  return (t * 7919 + 1) % vocab;
}

/** The vocabulary a model gets: the option's, else its preset's, else Phi-3's. */
export function vocabOf(opts: Pick<ModelOptions, 'preset' | 'vocab'>): TestVocab {
  return opts.vocab ?? (PRESETS[opts.preset] as Preset).vocab ?? 'phi3';
}

export function planModel(opts: ModelOptions, vocabSize: number): ModelPlan {
  const p: Preset = PRESETS[opts.preset];
  const headDim = p.dim / p.nHeads;
  const contextLength = opts.contextLength ?? p.contextLength;
  const longRope = opts.longRope ?? p.longRope ?? false;
  const { vocab: _vocab, ...dims } = p;
  const shape: ModelShape = {
    ...dims,
    nKvHeads: opts.nKvHeads ?? p.nKvHeads,
    contextLength,
    headDim,
    vocabSize,
    ropeDim: opts.ropeDim ?? p.ropeDim ?? headDim,
    tiedOutput: opts.tiedOutput ?? p.tiedOutput ?? false,
    longRope,
    // A generated LongRoPE model without a preset's original context extends a quarter of its own.
    originalContextLength: longRope ? (p.originalContextLength ?? Math.max(64, contextLength / 4)) : contextLength,
  };
  if (shape.nHeads % shape.nKvHeads !== 0) throw new Error(`kv heads ${shape.nKvHeads} must divide heads ${shape.nHeads}`);
  if (shape.ropeDim % 2 !== 0 || shape.ropeDim < 2 || shape.ropeDim > headDim) throw new Error(`ropeDim ${shape.ropeDim} must be even and in 2..${headDim}`);
  const { dim, ffnDim, nLayers, tiedOutput } = shape;
  const qkvOut = dim + 2 * shape.nKvHeads * headDim;
  // A tied output has no matrix of its own to plant a bigram in.
  const bigram = tiedOutput ? 0 : (opts.bigram ?? (dim * vocabSize <= POOL_THRESHOLD ? 24 : 0));
  const logitScale = opts.logitScale ?? (tiedOutput ? TIED_LOGIT_SCALE : bigram > 0 ? 3 : 6);
  const t = (name: string, dims: number[], layer: number, init: TensorPlan['init']): TensorPlan => ({
    name,
    dims,
    layer,
    init,
    // llama-quant.cpp gives a tied token_embd the output tensor's type: it is the output matrix.
    type: dims.length === 1 ? GGMLType.F32 : weightType(opts.mix, tiedOutput && name === 'token_embd.weight' ? 'output.weight' : name, layer, nLayers),
  });
  const norm = { kind: 'uniform', lo: 0.8, hi: 1.2 } as const;
  const tensors: TensorPlan[] = [t('token_embd.weight', [dim, vocabSize], -1, { kind: 'normal', std: 1 })];
  // Scales keep the residual stream near unit RMS: each projection's output has about the
  // variance of its (normalized) input times the stated factor.
  for (let l = 0; l < nLayers; l++) {
    tensors.push(
      t(`blk.${l}.attn_norm.weight`, [dim], l, norm),
      t(`blk.${l}.attn_qkv.weight`, [dim, qkvOut], l, { kind: 'normal', std: 1 / Math.sqrt(dim) }),
      t(`blk.${l}.attn_output.weight`, [dim, dim], l, { kind: 'normal', std: 0.5 / Math.sqrt(dim) }),
      t(`blk.${l}.ffn_norm.weight`, [dim], l, norm),
      t(`blk.${l}.ffn_up.weight`, [dim, 2 * ffnDim], l, { kind: 'normal', std: 1 / Math.sqrt(dim) }),
      t(`blk.${l}.ffn_down.weight`, [ffnDim, dim], l, { kind: 'normal', std: 0.5 / Math.sqrt(ffnDim) }),
    );
  }
  // The final RMSNorm gives unit-RMS input, so logits are about normal(0, logitScale): peaked.
  // Tied, the output matrix is token_embd (std 1), so output_norm carries the scale instead.
  if (tiedOutput) {
    const g = logitScale / Math.sqrt(dim);
    tensors.push(t('output_norm.weight', [dim], -1, { kind: 'uniform', lo: 0.8 * g, hi: 1.2 * g }));
  } else {
    tensors.push(t('output_norm.weight', [dim], -1, norm));
    tensors.push(t('output.weight', [dim, vocabSize], -1, { kind: 'normal', std: logitScale / Math.sqrt(dim) }));
  }
  if (longRope) {
    const half = shape.ropeDim / 2;
    tensors.push(
      t('rope_factors_long.weight', [half], -1, { kind: 'uniform', lo: 1, hi: 8 }),
      t('rope_factors_short.weight', [half], -1, { kind: 'uniform', lo: 1, hi: 1.3 }),
    );
  }
  return { shape, tensors, bigram };
}
