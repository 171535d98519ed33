/**
 * Model hyperparameters from GGUF metadata, for the `phi3` architecture (PHI3.md 1-3),
 * "LLaMAfied" Phi-3 files (`llama`: split q/k/v, separate gate/up, NORM RoPE) and our own
 * `phi3small` (src/model/PHI3SMALL.md: LayerNorm, biases, GeGeLU, muP scales, block-sparse
 * attention on some layers, a tied output, masked dummy ids). Also checks that
 * every tensor the forward pass needs is present with the shape the metadata implies, and that
 * there is no tensor we would silently ignore (a bias, MoE experts, RoPE frequency factors).
 */

import { ModelFormatError } from '../common/errors.ts';
import { getBool, getF32, getNumberArray, getString, getStringArray, getU32 } from './gguf-meta.ts';
import type { GGUFFile, TensorInfo } from './gguf-types.ts';

export type Arch = 'phi3' | 'llama' | 'phi3small';

/**
 * Phi-3-small's block-sparse pattern (PHI3SMALL.md): query head h at position i sees key j <= i
 * iff floor(i/B) - floor(j/B) < localBlocks or (floor(j/B) + h * headStep + 1) % vertStride == 0.
 * The same shape as src/kernels/attention.ts BlockSparse (this room cannot import it).
 */
export interface BlockSparsePattern {
  blockSize: number;
  localBlocks: number;
  vertStride: number;
  /** 0 when every head has head 0's pattern (homo_head), else max(1, floor(vertStride / heads)). */
  headStep: number;
}

export interface ModelConfig {
  arch: Arch;
  /** general.name, if any (the tokenizer's Phi-3 rstrip rule looks at it). */
  name?: string;
  dim: number; // embedding_length (H)
  nLayers: number;
  nHeads: number;
  nKvHeads: number; // < nHeads means grouped-query attention
  headDim: number; // dim / nHeads
  kvDim: number; // nKvHeads * headDim
  ffnDim: number; // feed_forward_length (F); phi3's ffn_up holds 2F rows: gate then up
  vocabSize: number; // token_embd ne[1]
  contextLength: number; // n_ctx_train
  originalContextLength: number; // LongRoPE switches factor sets above this
  ropeTheta: number;
  ropeDim: number; // rotated dims per head (rope.dimension_count)
  ropeStyle: 'neox' | 'norm'; // neox: pairs (i, i+d/2); norm: pairs (2i, 2i+1)
  normEps: number;
  slidingWindow: number; // 0 = none; else key j visible from p iff p - j < slidingWindow
  ropeAttnFactor: number; // multiplies cos and sin (LongRoPE attention factor)
  ropeFactorsLong: boolean; // rope_factors_long.weight [ropeDim/2] present
  ropeFactorsShort: boolean; // rope_factors_short.weight [ropeDim/2] present
  fused: boolean; // phi3: attn_qkv + ffn_up(gate|up); llama: attn_q/k/v + ffn_gate/ffn_up
  tiedOutput: boolean; // no output.weight: the logits use token_embd (llama.cpp's fallback for both archs; Phi-4-mini; always for phi3small)
  // What phi3small changes; phi3 and llama have the first value of each.
  norm: 'rms' | 'layer'; // rms: x / rms(x) * w; layer: (x - mean) / sqrt(var + eps) * w + b
  biases: boolean; // every projection has a bias vector (phi3small)
  ffnAct: 'swiglu' | 'gegelu'; // swiglu: silu(gate) * up; gegelu: g sigmoid(1.702 g) (l + 1), clamped by gegeluLimit
  gegeluLimit: number; // g = min(g, limit), l = clamp(l, -limit, limit); 0 without gegelu
  embeddingScale: number; // x = embed[id] * embeddingScale (1; phi3small: mup_embedding_multiplier)
  attentionScale: number; // scores = q.k * attentionScale (1/sqrt(headDim); phi3small: mup_attn_multiplier / headDim)
  logitScale: number; // logits = head(x) * logitScale (1; phi3small: 1 / mup_width_multiplier)
  blockSparse?: BlockSparsePattern; // the pattern of the sparse layers (phi3small)
  denseEvery: number; // layer L is dense iff (L + 1) % denseEvery == 0; 1 = every layer (no sparse layers)
  /** LongRoPE's cos/sin multiplier per factor set (phi3small 128k); absent = ropeAttnFactor for both. */
  ropeMscale?: { short: number; long: number };
  maskedIds: number[]; // token ids whose logits are masked (never sampled): phi3small's dummy tokens
}

/** Whether layer l attends densely (causal), or with cfg.blockSparse. */
export function isDenseLayer(cfg: ModelConfig, l: number): boolean {
  return cfg.blockSparse === undefined || (l + 1) % cfg.denseEvery === 0;
}

/**
 * The RoPE cos/sin multiplier when running with `contextLength` positions: the mscale of the
 * factor set chosen for it (the long set above originalContextLength, as src/engine/weights.ts
 * picks the factors), or ropeAttnFactor for a model without per-set mscales.
 */
export function ropeAttnFactorFor(cfg: ModelConfig, contextLength: number): number {
  if (!cfg.ropeMscale) return cfg.ropeAttnFactor;
  return contextLength > cfg.originalContextLength ? cfg.ropeMscale.long : cfg.ropeMscale.short;
}

// The KV cache's byte counts live in common/ so the UI can estimate GPU memory from a catalog
// entry's shape before the file exists; ModelConfig is a KvShape.
export { KV_TYPES, Q8_0_BLOCK, kvBytesPerToken, kvLayerBytes, kvRowBytes, kvTypeProblem, type KvType } from '../common/kv.ts';

export interface ExpectedTensor {
  name: string;
  dims: number[];
  /** Where the dims come from, for error messages. */
  why: string;
}

const SUPPORTED: readonly string[] = ['phi3', 'llama', 'phi3small'];

function bad(field: string, message: string): ModelFormatError {
  return new ModelFormatError(`model config: ${message}`, { field });
}

function positive(key: string, v: number): number {
  if (v <= 0) throw bad(key, `"${key}" is ${v}, must be positive`);
  return v;
}

/** llama.cpp's defaults for phi3 files written before the sliding_window key existed (PHI3.md 1.1). */
function phi3WindowFallback(nLayers: number, nKvHeads: number, ctx: number): number {
  if ((nLayers === 32 || nLayers === 40) && ctx === 4096) return 2047; // Phi-3 mini/medium 4k
  if (nLayers === 32 && nKvHeads === 32 && ctx === 131072) return 262144; // Phi-3 mini 128k
  if (nLayers === 40 && ctx === 131072) return 131072; // Phi-3 medium 128k
  return 0;
}

export function modelConfigFromGGUF(file: GGUFFile): ModelConfig {
  const meta = file.metadata;
  // 1. Architecture.
  const arch = getString(meta, 'general.architecture');
  if (!SUPPORTED.includes(arch)) {
    throw bad('general.architecture', `architecture "${arch}" is not supported; this app runs phi3 (and llama) models`);
  }
  const p = `${arch}.`;

  // 2. Hyperparameters.
  const dim = positive(`${p}embedding_length`, getU32(meta, `${p}embedding_length`));
  const nLayers = positive(`${p}block_count`, getU32(meta, `${p}block_count`));
  const nHeads = positive(`${p}attention.head_count`, getU32(meta, `${p}attention.head_count`));
  const nKvHeads = positive(`${p}attention.head_count_kv`, getU32(meta, `${p}attention.head_count_kv`, nHeads));
  const ffnDim = positive(`${p}feed_forward_length`, getU32(meta, `${p}feed_forward_length`));
  const contextLength = positive(`${p}context_length`, getU32(meta, `${p}context_length`));
  const small = arch === 'phi3small';
  const epsKey = small ? `${p}attention.layer_norm_epsilon` : `${p}attention.layer_norm_rms_epsilon`;
  const normEps = getF32(meta, epsKey);
  if (!(normEps > 0)) throw bad(epsKey, `${small ? 'layer norm' : 'rms'} epsilon ${normEps} must be positive`);
  if (dim % nHeads !== 0) {
    throw bad(`${p}attention.head_count`, `head_count ${nHeads} does not divide embedding_length ${dim}`);
  }
  if (nHeads % nKvHeads !== 0) {
    throw bad(`${p}attention.head_count_kv`, `head_count_kv ${nKvHeads} does not divide head_count ${nHeads}`);
  }
  const headDim = dim / nHeads;
  for (const k of ['key_length', 'value_length']) {
    const v = getU32(meta, `${p}attention.${k}`, headDim);
    if (v !== headDim) throw bad(`${p}attention.${k}`, `attention.${k} ${v} differs from embedding_length/head_count = ${headDim} (not supported)`);
  }
  const ropeDim = getU32(meta, `${p}rope.dimension_count`, headDim);
  if (ropeDim === 0 || ropeDim % 2 !== 0 || ropeDim > headDim) {
    throw bad(`${p}rope.dimension_count`, `rope.dimension_count ${ropeDim} must be even and in 2..${headDim} (the head size)`);
  }
  const ropeTheta = getF32(meta, `${p}rope.freq_base`, 10000);
  const scaling = getString(meta, `${p}rope.scaling.type`, 'none');
  const scaleFactor = getF32(meta, `${p}rope.scaling.factor`, 1);
  if (scaling !== 'none' && !(scaling === 'linear' && scaleFactor === 1)) {
    throw bad(`${p}rope.scaling.type`, `RoPE scaling "${scaling}" (factor ${scaleFactor}) is not supported`);
  }
  if (getU32(meta, `${p}expert_count`, 0) > 0) throw bad(`${p}expert_count`, 'mixture-of-experts models are not supported');

  let slidingWindow = 0;
  if (arch === 'phi3') {
    // Absent in old files: llama.cpp's fallback for the shapes it knows, else no window. (The
    // 2025-02 llama.cpp refused such a file; newer ones, e.g. in node-llama-cpp, load it with
    // Phi SWA disabled altogether, so "no window" is what a cross-check against them expects.)
    const key = `${p}attention.sliding_window`;
    slidingWindow = meta.has(key) ? getU32(meta, key) : phi3WindowFallback(nLayers, nKvHeads, contextLength);
  }

  // 3. Shapes that come from tensors.
  const byName = new Map<string, TensorInfo>(file.tensors.map((t) => [t.name, t]));
  const embd = byName.get('token_embd.weight');
  if (!embd) throw bad('token_embd.weight', 'missing tensor "token_embd.weight"');
  if (embd.dims.length !== 2 || embd.dims[0] !== dim) {
    throw bad('token_embd.weight', `tensor "token_embd.weight" has dims [${embd.dims}] but the metadata implies [${dim}, n_vocab] (embedding_length ${dim})`);
  }
  const vocabSize = embd.dims[1];
  if (meta.has('tokenizer.ggml.tokens')) {
    const n = getStringArray(meta, 'tokenizer.ggml.tokens').length;
    if (n !== vocabSize) throw bad('tokenizer.ggml.tokens', `the vocabulary has ${n} tokens but token_embd.weight has ${vocabSize} rows`);
  }

  const cfg: ModelConfig = {
    ...(small ? phi3smallKeys(meta, p, { nHeads, headDim, vocabSize, hasFactors: byName.has('rope_factors_long.weight') || byName.has('rope_factors_short.weight') }) : PHI3_DEFAULTS(headDim)),
    arch: arch as Arch,
    name: meta.has('general.name') ? getString(meta, 'general.name') : undefined,
    dim, nLayers, nHeads, nKvHeads, headDim, kvDim: nKvHeads * headDim, ffnDim, vocabSize,
    contextLength,
    originalContextLength: getU32(meta, `${p}rope.scaling.original_context_length`, contextLength),
    ropeTheta, ropeDim,
    ropeStyle: arch === 'llama' ? 'norm' : 'neox',
    normEps, slidingWindow,
    ropeAttnFactor: getF32(meta, `${p}rope.scaling.attn_factor`, 1),
    ropeFactorsLong: byName.has('rope_factors_long.weight'),
    ropeFactorsShort: byName.has('rope_factors_short.weight'),
    fused: arch !== 'llama',
    // phi3small has no output.weight: listing none makes one present an unexpected tensor
    tiedOutput: small || !byName.has('output.weight'),
  };

  // 4. Every tensor present with the implied shape; nothing we would ignore.
  const expected = expectedTensors(cfg);
  for (const e of expected) {
    const t = byName.get(e.name);
    if (!t) throw bad(e.name, `missing tensor "${e.name}" (expected dims [${e.dims}]: ${e.why})`);
    if (t.dims.length !== e.dims.length || t.dims.some((d, i) => d !== e.dims[i])) {
      throw bad(e.name, `tensor "${e.name}" has dims [${t.dims}] but the metadata implies [${e.dims}] (${e.why})`);
    }
  }
  const known = new Set(expected.map((e) => e.name));
  for (const t of file.tensors) {
    if (!known.has(t.name)) throw bad(t.name, `unexpected tensor "${t.name}": not part of a ${arch} model this app can run`);
  }
  return cfg;
}

type ArchExtras = Pick<ModelConfig, 'norm' | 'biases' | 'ffnAct' | 'gegeluLimit' | 'embeddingScale' | 'attentionScale' | 'logitScale' | 'blockSparse' | 'denseEvery' | 'ropeMscale' | 'maskedIds'>;

/** phi3 and llama: RMSNorm, no biases, SwiGLU, no muP scales, every layer dense, nothing masked. */
const PHI3_DEFAULTS = (headDim: number): ArchExtras => ({
  norm: 'rms', biases: false, ffnAct: 'swiglu', gegeluLimit: 0,
  embeddingScale: 1, attentionScale: 1 / Math.sqrt(headDim), logitScale: 1, denseEvery: 1, maskedIds: [],
});

/** phi3small's own keys (PHI3SMALL.md "Metadata"); a missing key or a value we cannot run is refused by name. */
function phi3smallKeys(meta: GGUFFile['metadata'], p: string, s: { nHeads: number; headDim: number; vocabSize: number; hasFactors: boolean }): ArchExtras {
  const pos = (key: string) => {
    const v = getF32(meta, `${p}${key}`);
    if (!(v > 0 && Number.isFinite(v))) throw bad(`${p}${key}`, `"${p}${key}" is ${v}, must be positive`);
    return v;
  };
  const u = (key: string) => positive(`${p}${key}`, getU32(meta, `${p}${key}`));
  const vertStride = u('attention.block_sparse.vert_stride');
  const homo = getBool(meta, `${p}attention.block_sparse.homo_head`);
  const masked = Array.from(getNumberArray(meta, `${p}dummy_token_indices`));
  for (const id of masked) {
    if (!(Number.isInteger(id) && id >= 0 && id < s.vocabSize)) throw bad(`${p}dummy_token_indices`, `dummy token id ${id} is outside the vocabulary (${s.vocabSize})`);
  }
  let ropeMscale: ArchExtras['ropeMscale'];
  if (s.hasFactors) {
    // without it the factor set could not be chosen (the long one runs above it)
    u('rope.scaling.original_context_length');
    ropeMscale = { short: pos('rope.scaling.short_mscale'), long: pos('rope.scaling.long_mscale') };
  }
  return {
    norm: 'layer',
    biases: true,
    ffnAct: 'gegelu',
    gegeluLimit: pos('feed_forward.gegelu_limit'),
    embeddingScale: pos('mup.embedding_multiplier'),
    attentionScale: pos('mup.attn_multiplier') / s.headDim,
    logitScale: 1 / pos('mup.width_multiplier'),
    blockSparse: {
      blockSize: u('attention.block_sparse.block_size'),
      localBlocks: u('attention.block_sparse.local_blocks'),
      vertStride,
      headStep: homo ? 0 : Math.max(1, Math.floor(vertStride / s.nHeads)),
    },
    denseEvery: u('attention.dense_every_n_layers'),
    ropeMscale,
    maskedIds: [...new Set(masked)].sort((a, b) => a - b),
  };
}

/** Every tensor the forward pass reads, with its ne (ne[0] = input features). */
export function expectedTensors(cfg: ModelConfig): ExpectedTensor[] {
  const { dim, kvDim, ffnDim, vocabSize, nHeads, nKvHeads, headDim } = cfg;
  const H = `embedding_length ${dim}`;
  const heads = `head_count ${nHeads}, head_count_kv ${nKvHeads}, head dim ${headDim}`;
  const F = `feed_forward_length ${ffnDim}`;
  const out: ExpectedTensor[] = [
    { name: 'token_embd.weight', dims: [dim, vocabSize], why: `${H}, vocab ${vocabSize}` },
    { name: 'output_norm.weight', dims: [dim], why: H },
  ];
  // phi3small: a bias beside every norm weight and projection (the biases are vectors of the rows)
  const bias = (name: string, n: number, why: string) => {
    if (cfg.biases) out.push({ name, dims: [n], why });
  };
  bias('output_norm.bias', dim, H);
  if (!cfg.tiedOutput) out.push({ name: 'output.weight', dims: [dim, vocabSize], why: `${H}, vocab ${vocabSize}` });
  if (cfg.ropeFactorsLong) out.push({ name: 'rope_factors_long.weight', dims: [cfg.ropeDim / 2], why: `rope.dimension_count ${cfg.ropeDim} / 2` });
  if (cfg.ropeFactorsShort) out.push({ name: 'rope_factors_short.weight', dims: [cfg.ropeDim / 2], why: `rope.dimension_count ${cfg.ropeDim} / 2` });
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blk.${l}.`;
    out.push({ name: `${b}attn_norm.weight`, dims: [dim], why: H });
    bias(`${b}attn_norm.bias`, dim, H);
    if (cfg.fused) {
      out.push({ name: `${b}attn_qkv.weight`, dims: [dim, dim + 2 * kvDim], why: `q|k|v rows: ${H}, ${heads}` });
      bias(`${b}attn_qkv.bias`, dim + 2 * kvDim, `q|k|v rows: ${H}, ${heads}`);
    } else {
      out.push({ name: `${b}attn_q.weight`, dims: [dim, dim], why: `${H}, ${heads}` });
      out.push({ name: `${b}attn_k.weight`, dims: [dim, kvDim], why: `${H}, ${heads}` });
      out.push({ name: `${b}attn_v.weight`, dims: [dim, kvDim], why: `${H}, ${heads}` });
    }
    out.push({ name: `${b}attn_output.weight`, dims: [dim, dim], why: H });
    bias(`${b}attn_output.bias`, dim, H);
    out.push({ name: `${b}ffn_norm.weight`, dims: [dim], why: H });
    bias(`${b}ffn_norm.bias`, dim, H);
    if (cfg.fused) {
      const halves = cfg.ffnAct === 'gegelu' ? 'gelu|linear' : 'gate|up';
      out.push({ name: `${b}ffn_up.weight`, dims: [dim, 2 * ffnDim], why: `${halves} rows: ${H}, 2 x ${F}` });
      bias(`${b}ffn_up.bias`, 2 * ffnDim, `${halves} rows: 2 x ${F}`);
    } else {
      out.push({ name: `${b}ffn_gate.weight`, dims: [dim, ffnDim], why: `${H}, ${F}` });
      out.push({ name: `${b}ffn_up.weight`, dims: [dim, ffnDim], why: `${H}, ${F}` });
    }
    out.push({ name: `${b}ffn_down.weight`, dims: [ffnDim, dim], why: `${F}, ${H}` });
    bias(`${b}ffn_down.bias`, dim, H);
  }
  return out;
}
