/**
 * Model hyperparameters from GGUF metadata, for the `phi3` architecture (PHI3.md 1-3) and
 * "LLaMAfied" Phi-3 files (`llama`: split q/k/v, separate gate/up, NORM RoPE). Also checks that
 * every tensor the forward pass needs is present with the shape the metadata implies, and that
 * there is no tensor we would silently ignore (a bias, MoE experts, RoPE frequency factors).
 */

import { ModelFormatError } from '../common/errors.ts';
import { getF32, getString, getStringArray, getU32 } from './gguf-meta.ts';
import type { GGUFFile, TensorInfo } from './gguf-types.ts';

export type Arch = 'phi3' | 'llama';

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
  tiedOutput: boolean; // no output.weight: the logits use token_embd (llama.cpp's fallback for both archs; Phi-4-mini)
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

const SUPPORTED: readonly string[] = ['phi3', 'llama'];

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
  const normEps = getF32(meta, `${p}attention.layer_norm_rms_epsilon`);
  if (!(normEps > 0)) throw bad(`${p}attention.layer_norm_rms_epsilon`, `rms epsilon ${normEps} must be positive`);
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
    arch: arch as Arch,
    name: meta.has('general.name') ? getString(meta, 'general.name') : undefined,
    dim, nLayers, nHeads, nKvHeads, headDim, kvDim: nKvHeads * headDim, ffnDim, vocabSize,
    contextLength,
    originalContextLength: getU32(meta, `${p}rope.scaling.original_context_length`, contextLength),
    ropeTheta, ropeDim,
    ropeStyle: arch === 'phi3' ? 'neox' : 'norm',
    normEps, slidingWindow,
    ropeAttnFactor: getF32(meta, `${p}rope.scaling.attn_factor`, 1),
    ropeFactorsLong: byName.has('rope_factors_long.weight'),
    ropeFactorsShort: byName.has('rope_factors_short.weight'),
    fused: arch === 'phi3',
    tiedOutput: !byName.has('output.weight'),
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
  if (!cfg.tiedOutput) out.push({ name: 'output.weight', dims: [dim, vocabSize], why: `${H}, vocab ${vocabSize}` });
  if (cfg.ropeFactorsLong) out.push({ name: 'rope_factors_long.weight', dims: [cfg.ropeDim / 2], why: `rope.dimension_count ${cfg.ropeDim} / 2` });
  if (cfg.ropeFactorsShort) out.push({ name: 'rope_factors_short.weight', dims: [cfg.ropeDim / 2], why: `rope.dimension_count ${cfg.ropeDim} / 2` });
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blk.${l}.`;
    out.push({ name: `${b}attn_norm.weight`, dims: [dim], why: H });
    if (cfg.fused) {
      out.push({ name: `${b}attn_qkv.weight`, dims: [dim, dim + 2 * kvDim], why: `q|k|v rows: ${H}, ${heads}` });
    } else {
      out.push({ name: `${b}attn_q.weight`, dims: [dim, dim], why: `${H}, ${heads}` });
      out.push({ name: `${b}attn_k.weight`, dims: [dim, kvDim], why: `${H}, ${heads}` });
      out.push({ name: `${b}attn_v.weight`, dims: [dim, kvDim], why: `${H}, ${heads}` });
    }
    out.push({ name: `${b}attn_output.weight`, dims: [dim, dim], why: H });
    out.push({ name: `${b}ffn_norm.weight`, dims: [dim], why: H });
    if (cfg.fused) {
      out.push({ name: `${b}ffn_up.weight`, dims: [dim, 2 * ffnDim], why: `gate|up rows: ${H}, 2 x ${F}` });
    } else {
      out.push({ name: `${b}ffn_gate.weight`, dims: [dim, ffnDim], why: `${H}, ${F}` });
      out.push({ name: `${b}ffn_up.weight`, dims: [dim, ffnDim], why: `${H}, ${F}` });
    }
    out.push({ name: `${b}ffn_down.weight`, dims: [ffnDim, dim], why: `${F}, ${H}` });
  }
  return out;
}
