/**
 * Causal (optionally sliding-window) softmax attention over a layer's f16 KV cache, two paths:
 *   - split-K "flash-decoding" for steps of at most `decodeMaxTokens` tokens:
 *     shaders/attention_decode.wgsl (one workgroup per key chunk, head, token) then
 *     shaders/attention_merge.wgsl (one per head, token);
 *   - tiled causal attention for prefill: shaders/attention_prefill.wgsl, or, with
 *     prefillVariant 'rows-f16' (devices with 'shader-f16'), one thread per query row with f16
 *     products and no stored scores: shaders/attention_prefill_f16.wgsl;
 *   - for one decoded token, the split-K pass with RoPE and the KV append fused in
 *     (shaders/attention_decode_rope.wgsl, reading raw qkv; replaces rope_kv + the split-K pass).
 * The split-K passes come in two layouts (AttentionOptions.decodeVariant): 'keys', one thread per
 * key (attention_partials.wgsl), and 'lanes', lanes along the head dimension with vector loads of
 * the cache rows and subgroup reductions where the device has them (attention_lanes.wgsl,
 * attention_decode_lanes.wgsl, attention_decode_rope_lanes.wgsl); both write the same partials.
 * Both read q [M, nHeads*headDim] (rotated, unscaled), write att [M, nHeads*headDim], and agree
 * with attention.ref.ts. Pipelines are made once per headDim; bind groups once per layer.
 *
 * Scores are q.k * shape.scale (default 1/sqrt(headDim); Phi-3-small's is 1/headDim). A
 * block-sparse pattern (shape.sparse, Phi-3-small's sparse layers: keyVisible) lives in the Params
 * uniform (sparseBlock, 0 = dense; localBlocks, vertStride, headStep), so the same pipelines serve
 * dense and sparse layers, each with its own Params buffer; attention_common.wgsl has the one
 * definition every pass uses (blockSeen, keySeen, nextSeenKey, seenKeys). No pass reads the K or V
 * row of a key it does not see:
 *   - split-K (both layouts, plain and fused): each (chunk, head, token) workgroup maps the keys
 *     its head sees in its chunk, in order, to 0..n-1 (seenKeys: the vertical blocks before the
 *     local run, then the local run) and walks that index, so whole runs of unseen keys cost
 *     nothing and no thread idles on them; a chunk with no seen key writes the empty partials
 *     (max NEG, sum 0, zeros), which the merge pass and the merging Wo GEMV weigh by 0. The chunks
 *     dispatched, and so the merge, are the dense ones;
 *   - prefill (both variants): a workgroup visits only key tiles holding a key some row of it sees
 *     (nextSeenKey over the rows' first block), loads only the rows of such keys, and masks per row
 *     (keySeen); 'rows-f16' turns that mask into bits per tile first, out of its unrolled loops.
 * sparseKeysRead counts the keys a decode step reads under a pattern (per query head, and the
 * union per KV group).
 */
import commonSource from '../../shaders/attention_common.wgsl?raw';
import decodeSource from '../../shaders/attention_decode.wgsl?raw';
import decodeQuerySource from '../../shaders/attention_decode_query.wgsl?raw';
import partialsSource from '../../shaders/attention_partials.wgsl?raw';
import mergeSource from '../../shaders/attention_merge.wgsl?raw';
import prefillSource from '../../shaders/attention_prefill.wgsl?raw';
import decodeRopeSource from '../../shaders/attention_decode_rope.wgsl?raw';
import decodeRopeCommonSource from '../../shaders/attention_decode_rope_common.wgsl?raw';
import workgroupReduce from '../../shaders/workgroup_reduce.wgsl?raw';
import splitKSource from '../../shaders/attention_split_k.wgsl?raw';
import lanesSource from '../../shaders/attention_lanes.wgsl?raw';
import lanesSubgroupSource from '../../shaders/attention_lanes_subgroup.wgsl?raw';
import lanesWorkgroupSource from '../../shaders/attention_lanes_workgroup.wgsl?raw';
import decodeLanesSource from '../../shaders/attention_decode_lanes.wgsl?raw';
import decodeRopeLanesSource from '../../shaders/attention_decode_rope_lanes.wgsl?raw';
import prefillF16Source from '../../shaders/attention_prefill_f16.wgsl?raw';
import kvF16Source from '../../shaders/kv_f16.wgsl?raw';
import kvLanesF16Source from '../../shaders/kv_lanes_f16.wgsl?raw';
import kvLanesQ8Source from '../../shaders/kv_lanes_q8_0.wgsl?raw';
import kvLanesNewF16Source from '../../shaders/kv_lanes_new_f16.wgsl?raw';
import kvLanesNewQ8Source from '../../shaders/kv_lanes_new_q8_0.wgsl?raw';
import kvQ8Source from '../../shaders/kv_q8_0.wgsl?raw';
import q8QuantSource from '../../shaders/kv_q8_0_quant.wgsl?raw';
import type { KvCacheType as KvType } from './kv-layout.ts';
import { ROPE_WGSL, type RopeStyle } from './rope_kv.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { STEP_WGSL, type Step } from './step.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

export interface AttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Cache capacity in positions. */
  maxCtx: number;
  /** Sliding window in positions including self (key j visible iff pos - j < window); 0 = none. */
  window: number;
  /** Multiplies q.k before the softmax; default 1/sqrt(headDim). */
  scale?: number;
  /** Block-sparse pattern (Phi-3-small's sparse layers); absent = every causal key is visible. */
  sparse?: BlockSparse;
}

/**
 * Phi-3-small's block-sparse attention (src/model/PHI3SMALL.md): with B = blockSize, query head h
 * at position i sees key j <= i iff floor(i/B) - floor(j/B) < localBlocks, or
 * (floor(j/B) + h * headStep + 1) % vertStride == 0. headStep 0 gives every head head 0's pattern.
 */
export interface BlockSparse {
  blockSize: number;
  localBlocks: number;
  vertStride: number;
  headStep: number;
}

/** Whether query head `h` at position `i` sees key `j` (causal, then the block-sparse pattern if any). */
export function keyVisible(sparse: BlockSparse | undefined, h: number, i: number, j: number): boolean {
  if (j > i) return false;
  if (!sparse) return true;
  const { blockSize: B, localBlocks, vertStride, headStep } = sparse;
  const ib = Math.floor(i / B);
  const jb = Math.floor(j / B);
  return ib - jb < localBlocks || (jb + h * headStep + 1) % vertStride === 0;
}

/**
 * Why the GPU passes cannot take this pattern (null when they can): whole numbers with
 * blockSize, localBlocks, vertStride >= 1 (so every position sees itself) and headStep >= 0, small
 * enough that the shaders' u32 block arithmetic cannot wrap.
 */
export function blockSparseProblem(sparse: BlockSparse): string | null {
  const { blockSize, localBlocks, vertStride, headStep } = sparse;
  const whole = (x: number, min: number) => Number.isInteger(x) && x >= min && x < 2 ** 16;
  if (!whole(blockSize, 1) || !whole(localBlocks, 1) || !whole(vertStride, 1) || !whole(headStep, 0)) {
    return `block-sparse pattern ${JSON.stringify(sparse)} needs whole blockSize, localBlocks, vertStride >= 1 and headStep >= 0, each below 65536`;
  }
  return null;
}

/**
 * The keys a decode step at position `pos` reads (causal, the sliding window if any, the
 * block-sparse pattern if any): perQueryHead sums the keys each query head sees (what the split-K
 * passes read: each (chunk, head) workgroup reads its head's keys); perKvHeadUnion sums, over KV
 * heads, the distinct keys the query heads of its group see together (the rows a pass sharing
 * one read per KV group would fetch). Dense: nHeads (pos + 1) and nKvHeads (pos + 1), windowed.
 */
export function sparseKeysRead(sparse: BlockSparse | undefined, nHeads: number, nKvHeads: number, pos: number, window = 0): { perQueryHead: number; perKvHeadUnion: number } {
  const lo = windowStart(pos, window);
  const group = nHeads / nKvHeads;
  if (!sparse) return { perQueryHead: nHeads * (pos + 1 - lo), perKvHeadUnion: nKvHeads * (pos + 1 - lo) };
  const B = sparse.blockSize;
  const ib = Math.floor(pos / B);
  const seenBy = (h: number, jb: number) => ib - jb < sparse.localBlocks || (jb + h * sparse.headStep + 1) % sparse.vertStride === 0;
  let perQueryHead = 0;
  let perKvHeadUnion = 0;
  // Block by block: the keys of block jb within [lo, pos].
  for (let jb = Math.floor(lo / B); jb <= ib; jb++) {
    const keys = Math.min(pos + 1, (jb + 1) * B) - Math.max(lo, jb * B);
    for (let g = 0; g < nKvHeads; g++) {
      let any = false;
      for (let h = g * group; h < (g + 1) * group; h++) {
        if (seenBy(h, jb)) {
          perQueryHead += keys;
          any = true;
        }
      }
      if (any) perKvHeadUnion += keys;
    }
  }
  return { perQueryHead, perKvHeadUnion };
}

export interface AttentionOptions {
  /** Keys per split-K workgroup. Default 256. */
  chunk?: number;
  /** Threads of a split-K workgroup (power of two, >= headDim/2). Default 128. */
  decodeWorkgroupSize?: number;
  /** Steps with at most this many tokens take the split-K path. Default 4. */
  decodeMaxTokens?: number;
  /** Query rows per prefill workgroup. Default 16, halved while the tiles exceed workgroup memory. */
  tileQ?: number;
  /** Keys per prefill tile. Default 32, halved first while the tiles exceed workgroup memory. */
  tileK?: number;
  /** Threads per query row in prefill (power of two). Default 8. */
  threadsPerRow?: number;
  /** RoPE pairing of the fused decode pass (the model's; default 'neox'). */
  ropeStyle?: RopeStyle;
  /**
   * Layout of the split-K decode passes (plain and fused): 'keys' (default) one thread per key;
   * 'lanes' lanes along the head dimension (shaders/attention_lanes.wgsl). Same partials, same
   * merge, same error bounds.
   */
  decodeVariant?: DecodeVariant;
  /**
   * 'lanes' only: lanes that share one key row (a power of two <= decodeWorkgroupSize). Default
   * from headDim (lanesShape): the widest vector loads for which a power of two of lanes covers a
   * row with no idle lane and the group sums fit LANES_ACC_BYTES of workgroup memory.
   */
  lanesPerKey?: number;
  /**
   * 'lanes' only: reduce through subgroup operations (needs the device feature 'subgroups').
   * Default: whether the device has it. Without it, barrier trees in workgroup memory.
   */
  subgroups?: boolean;
  /**
   * Prefill path: 'tiled' (default, shaders/attention_prefill.wgsl) or 'rows-f16'
   * (shaders/attention_prefill_f16.wgsl: one thread per query row, scores in registers, f16
   * products; needs the device feature 'shader-f16'). For 'rows-f16', tileQ is the rows (threads)
   * per workgroup (default 64) and tileK the keys per tile (default 32, halved while the K and V
   * tiles exceed workgroup memory); threadsPerRow is unused.
   */
  prefillVariant?: PrefillVariant;
  /**
   * How the cache stores K and V (src/kernels/kv-cache.ref.ts): 'f16' (default) or 'q8_0' (needs
   * headDim % 32 == 0). Every pass reads rows through the codec of shaders/kv_f16.wgsl or
   * shaders/kv_q8_0.wgsl; the fused decode pass appends in the same format. With 'q8_0' the
   * 'lanes' passes load vectors of 8 dims (kv_lanes_q8_0.wgsl) and the 'rows-f16' prefill
   * rounds q * d to f16 into its tiles.
   */
  kvType?: KvType;
}

export type DecodeVariant = 'keys' | 'lanes';
export type PrefillVariant = 'tiled' | 'rows-f16';

/** Workgroup memory the 'lanes' default shape allows for the per-group sums of p v (accS). */
export const LANES_ACC_BYTES = 8192;

/** How the 'lanes' split-K pass lays out a key row (see shaders/attention_lanes.wgsl). */
export interface LanesShape {
  /** u32 words (f16 pairs) per vector load: 4, 2 or 1, dividing headDim / 2. */
  vectorWords: number;
  /** Vectors per row: headDim / 2 / vectorWords. */
  vectors: number;
  /** Lanes per key (power of two). */
  lanesPerKey: number;
  /** Vectors per lane: ceil(vectors / lanesPerKey). */
  rounds: number;
  /** Keys in flight per workgroup: workgroupSize / lanesPerKey. */
  groups: number;
}

/**
 * The 'lanes' layout for a head dimension and workgroup size: with `lanesPerKey` given, the widest
 * vector it divides evenly (else the widest); otherwise, from the widest vector down, the largest
 * power of two of lanes dividing the row's vectors (at most 32), doubled while the group sums exceed
 * LANES_ACC_BYTES; the first such shape with no idle lane, else the first that fits.
 */
export function lanesShape(headDim: number, workgroupSize: number, lanesPerKey?: number, kvType: KvType = 'f16'): LanesShape {
  const words = headDim / 2;
  // a q8_0 row is read in vectors of 8 dims (2 quant words and their block's scale)
  const widths = (kvType === 'q8_0' ? [4] : [4, 2, 1]).filter((w) => words % w === 0);
  const make = (vectorWords: number, lpk: number): LanesShape => {
    const vectors = words / vectorWords;
    return { vectorWords, vectors, lanesPerKey: lpk, rounds: Math.ceil(vectors / lpk), groups: workgroupSize / lpk };
  };
  if (lanesPerKey !== undefined) {
    return make(widths.find((w) => (words / w) % lanesPerKey === 0) ?? widths[0], lanesPerKey);
  }
  const shapes = widths.map((w) => {
    const vectors = words / w;
    let lpk = 1;
    while (vectors % (2 * lpk) === 0 && 2 * lpk <= Math.min(32, workgroupSize)) lpk *= 2;
    while ((workgroupSize / lpk) * words * 8 > LANES_ACC_BYTES && lpk < workgroupSize) lpk *= 2;
    return make(w, lpk);
  });
  const fits = (l: LanesShape) => l.groups * words * 8 <= LANES_ACC_BYTES;
  return shapes.find((l) => fits(l) && l.vectors % l.lanesPerKey === 0) ?? shapes.find(fits) ?? shapes[shapes.length - 1];
}

/** The adapter's smallest subgroup size where the device says, else WebGPU's lowest (4). */
function subgroupMinSize(device: GPUDevice): number {
  const min = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo?.subgroupMinSize;
  return typeof min === 'number' && min > 0 ? min : 4;
}

/** The constants the 'lanes' modules are built on (a module prefix: array sizes must be constants). */
function lanesConstants(headDim: number, chunk: number, wg: number, l: LanesShape, shuffle: boolean, kvType: KvType): string {
  const kv = l.vectorWords === 1 ? 'u32' : `vec${l.vectorWords}<u32>`;
  const word = l.vectorWords === 1 ? 'x' : 'x[i]';
  const withWord = l.vectorWords === 1 ? 'return w;' : 'var y = x;\n  y[i] = w;\n  return y;';
  return [
    `const HD: u32 = ${headDim}u;`,
    `const NW: u32 = ${headDim / 2}u;`,
    `const CHUNK: u32 = ${chunk}u;`,
    `const WG: u32 = ${wg}u;`,
    `const VW: u32 = ${l.vectorWords}u;`,
    `const NV: u32 = ${l.vectors}u;`,
    `const LPK: u32 = ${l.lanesPerKey}u;`,
    `const R: u32 = ${l.rounds}u;`,
    `const G: u32 = ${l.groups}u;`,
    `const SHUFFLE: bool = ${shuffle};`,
    `alias KV = ${kv};`,
    `alias KVC = ${kvType === 'q8_0' ? 'u32' : 'KV'};`,
    `fn kvWord(x: KV, i: u32) -> u32 {\n  return ${word};\n}`,
    `fn kvWith(x: KV, i: u32, w: u32) -> KV {\n  ${withWord}\n}`,
    '',
  ].join('\n');
}

/**
 * Why an AttentionKernel with these options cannot be built on this device (the message the
 * constructor would throw), or null when it can: for the autotuner's candidate lists.
 */
export function attentionOptionsProblem(device: GPUDevice, headDim: number, opts: AttentionOptions = {}): string | null {
  try {
    resolveOptions(device, headDim, opts);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

interface Resolved {
  chunk: number;
  decodeWorkgroupSize: number;
  decodeMaxTokens: number;
  threadsPerRow: number;
  tileQ: number;
  tileK: number;
  decodeVariant: DecodeVariant;
  prefillVariant: PrefillVariant;
  lanes: LanesShape | null;
  subgroups: boolean;
  shuffle: boolean;
  kvType: KvType;
}

/** Keys per split-K chunk of a kernel with these options (AttentionKernel.chunk), without building it. */
export function decodeChunkOf(opts: AttentionOptions): number {
  return opts.chunk ?? 256;
}

function resolveOptions(device: GPUDevice, headDim: number, opts: AttentionOptions): Resolved {
  const limits = device.limits;
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  const chunk = decodeChunkOf(opts);
  const decodeWorkgroupSize = opts.decodeWorkgroupSize ?? Math.min(128, limits.maxComputeInvocationsPerWorkgroup);
  const decodeMaxTokens = opts.decodeMaxTokens ?? 4;
  const threadsPerRow = opts.threadsPerRow ?? 8;
  const decodeVariant = opts.decodeVariant ?? 'keys';
  const prefillVariant = opts.prefillVariant ?? 'tiled';
  const kvType = opts.kvType ?? 'f16';
  const words = headDim / 2;
  if (!Number.isInteger(words) || headDim < 2) throw new Error(`attention: headDim ${headDim} must be even`);
  if (kvType !== 'f16' && kvType !== 'q8_0') throw new Error(`attention: unknown KV type ${String(kvType)}`);
  if (kvType === 'q8_0') {
    if (headDim % 32) throw new Error(`attention: a q8_0 cache needs headDim ${headDim} to be a multiple of 32`);
  }
  if (decodeVariant !== 'keys' && decodeVariant !== 'lanes') throw new Error(`attention: unknown decode variant ${String(decodeVariant)}`);
  if (decodeVariant === 'keys' && (!pow2(decodeWorkgroupSize) || decodeWorkgroupSize < words)) {
    throw new Error(`attention: decode workgroup size ${decodeWorkgroupSize} must be a power of two >= headDim/2`);
  }
  if (!(chunk >= 1 && decodeMaxTokens >= 1)) throw new Error('attention: bad chunk or decodeMaxTokens');
  let tileQ: number;
  let tileK: number;
  if (prefillVariant === 'tiled') {
    if (!pow2(threadsPerRow) || words > MAX_WPT * threadsPerRow) {
      throw new Error(`attention: headDim ${headDim} needs more than ${MAX_WPT} words per prefill thread`);
    }
    // Prefill tiles: shrink K tile, then Q tile, until they fit the device's workgroup memory.
    tileQ = opts.tileQ ?? 16;
    tileK = opts.tileK ?? 32;
    const bytes = () => 4 * (tileQ * headDim + tileK * words + tileQ * tileK);
    const fixed = opts.tileQ !== undefined && opts.tileK !== undefined;
    while (!fixed && bytes() > limits.maxComputeWorkgroupStorageSize && tileK > 8) tileK /= 2;
    while (!fixed && bytes() > limits.maxComputeWorkgroupStorageSize && tileQ > 1) tileQ /= 2;
    if (bytes() > limits.maxComputeWorkgroupStorageSize || tileQ * threadsPerRow > limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`attention: prefill tiles ${tileQ}x${tileK} at headDim ${headDim} exceed the device limits`);
    }
  } else if (prefillVariant === 'rows-f16') {
    if (!device.features.has('shader-f16')) throw new Error("attention (rows-f16 prefill): the device lacks the 'shader-f16' feature");
    tileQ = opts.tileQ ?? Math.min(64, limits.maxComputeInvocationsPerWorkgroup);
    tileK = opts.tileK ?? 32;
    // The K and V tiles, f16 pairs.
    const bytes = () => 8 * tileK * words;
    while (opts.tileK === undefined && bytes() > limits.maxComputeWorkgroupStorageSize && tileK > 1) tileK = Math.ceil(tileK / 2);
    if (!(Number.isInteger(tileQ) && tileQ >= 1 && tileQ <= limits.maxComputeInvocationsPerWorkgroup && Number.isInteger(tileK) && tileK >= 1)) {
      throw new Error(`attention (rows-f16 prefill): ${tileQ} rows per workgroup and ${tileK} keys per tile are not valid on this device`);
    }
    if (bytes() > limits.maxComputeWorkgroupStorageSize) throw new Error(`attention (rows-f16 prefill): tiles of ${tileK} keys at headDim ${headDim} exceed workgroup memory`);
  } else {
    throw new Error(`attention: unknown prefill variant ${String(prefillVariant)}`);
  }
  let lanes: LanesShape | null = null;
  let subgroups = false;
  let shuffle = false;
  if (decodeVariant === 'keys') {
    // The fused pass adds the (cos, sin) table and the new k and v: 4 more headDim floats.
    const decodeBytes = 4 * (5 * headDim + chunk) + 12 * decodeWorkgroupSize;
    if (decodeBytes > limits.maxComputeWorkgroupStorageSize) throw new Error(`attention: chunk ${chunk} exceeds workgroup memory`);
  } else {
    const wg = decodeWorkgroupSize;
    if (!pow2(wg) || wg > limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`attention (lanes): decode workgroup size ${wg} must be a power of two <= ${limits.maxComputeInvocationsPerWorkgroup}`);
    }
    if (opts.lanesPerKey !== undefined && !(pow2(opts.lanesPerKey) && opts.lanesPerKey <= wg)) {
      throw new Error(`attention (lanes): lanesPerKey ${opts.lanesPerKey} must be a power of two <= the decode workgroup size ${wg}`);
    }
    lanes = lanesShape(headDim, wg, opts.lanesPerKey, kvType);
    const has = device.features.has('subgroups');
    subgroups = opts.subgroups ?? has;
    if (subgroups && !has) throw new Error("attention (lanes): subgroups requested, but the device lacks the 'subgroups' feature");
    shuffle = subgroups && lanes.lanesPerKey <= subgroupMinSize(device);
    // p, red, dred, accS, qs; the fused pass adds the (cos, sin) table and the new k and v.
    const lanesBytes = 4 * (chunk + 2 * wg + headDim) + 8 * lanes.groups * words + 16 * words;
    if (lanesBytes > limits.maxComputeWorkgroupStorageSize) {
      throw new Error(`attention (lanes): ${lanesBytes} B of workgroup memory (chunk ${chunk}, ${lanes.groups} key groups) exceed the device's ${limits.maxComputeWorkgroupStorageSize}`);
    }
  }
  return { chunk, decodeWorkgroupSize, decodeMaxTokens, threadsPerRow, tileQ, tileK, decodeVariant, prefillVariant, lanes, subgroups, shuffle, kvType };
}

/** Inputs of the fused RoPE + append + split-K decode pass (see bindDecode). */
export interface AttentionRopeInputs {
  /** [(nHeads + 2 nKvHeads) * headDim] f32, the QKV projection of the one token. */
  qkv: GPUBuffer;
  /** [ropeDim/2] f32 LongRoPE factors (ones when absent). */
  factors: GPUBuffer;
  /** The rope_kv uniform (RopeKvKernel.createParams) of the same model. */
  ropeParams: GPUBuffer;
}

/** Output words per prefill thread the shader has registers for (MAX_WPT). */
const MAX_WPT = 16;
const MERGE_WG = 64;

/** One layer's bind groups for steps of m tokens (split-K for a few tokens, tiled for more). */
export interface AttentionBinding {
  readonly shape: AttentionShape;
  readonly decode: GPUBindGroup;
  readonly merge: GPUBindGroup;
  readonly prefill: GPUBindGroup;
}

/** One layer's bind groups for a decoded token: the fused RoPE + append + split-K pass, and the merge. */
export interface DecodeAttentionBinding {
  readonly shape: AttentionShape;
  readonly decodeRope: GPUBindGroup;
  readonly merge: GPUBindGroup;
}

/** Split-K scratch: per (token, head, chunk) partial outputs and (max, sum). Shared by all layers. */
export interface AttentionScratch {
  partO: GPUBuffer;
  partML: GPUBuffer;
}

/** What every layer's attention shares: the shape, its uniform (createParams), the Step uniform, the scratch. */
export interface AttentionShared {
  shape: AttentionShape;
  params: GPUBuffer;
  step: GPUBuffer;
  scratch: AttentionScratch;
}

/** One layer's cache: K and V, each [nKvHeads, maxCtx, headDim] f16. */
export interface LayerKv {
  k: GPUBuffer;
  v: GPUBuffer;
}

/** First key visible from position `pos` under a sliding window (0 = none). */
export function windowStart(pos: number, window: number): number {
  return window === 0 || pos < window ? 0 : pos + 1 - window;
}

/** Key chunks a split-K step visits: [first, first + count) in units of `chunk` positions. */
export function decodeChunks(pos0: number, nTokens: number, window: number, chunk: number): { first: number; count: number } {
  const first = Math.floor(windowStart(pos0, window) / chunk);
  const last = Math.floor((pos0 + nTokens - 1) / chunk);
  return { first, count: last - first + 1 };
}

export class AttentionKernel {
  /** The uniform `Params` of every attention shader; one buffer per model. */
  static readonly uniforms = new UniformLayout([
    ['nHeads', 'u32'],
    ['nKvHeads', 'u32'],
    ['maxCtx', 'u32'],
    ['window', 'u32'],
    ['scale', 'f32'],
    ['maxChunks', 'u32'],
    // The block-sparse pattern (BlockSparse; attention_common.wgsl): block size, 0 = dense.
    ['sparseBlock', 'u32'],
    ['localBlocks', 'u32'],
    ['vertStride', 'u32'],
    ['headStep', 'u32'],
    ['_pad0', 'u32'],
    ['_pad1', 'u32'],
  ] as const);

  readonly chunk: number;
  readonly decodeWorkgroupSize: number;
  readonly decodeMaxTokens: number;
  readonly tileQ: number;
  readonly tileK: number;
  readonly threadsPerRow: number;
  readonly decodeVariant: DecodeVariant;
  readonly prefillVariant: PrefillVariant;
  /** The 'lanes' layout (null for 'keys'). */
  readonly lanes: LanesShape | null;
  /** Whether the 'lanes' passes reduce through subgroup operations (false for 'keys'). */
  readonly subgroups: boolean;
  /** How the cache this kernel reads and appends to stores K and V. */
  readonly kvType: KvType;
  private readonly decode: ComputeKernel;
  private readonly merge: ComputeKernel;
  private readonly prefill: ComputeKernel;
  private readonly decodeRope: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly headDim: number,
    opts: AttentionOptions = {},
  ) {
    const r = resolveOptions(device, headDim, opts);
    this.chunk = r.chunk;
    this.decodeWorkgroupSize = r.decodeWorkgroupSize;
    this.decodeMaxTokens = r.decodeMaxTokens;
    this.threadsPerRow = r.threadsPerRow;
    this.tileQ = r.tileQ;
    this.tileK = r.tileK;
    this.decodeVariant = r.decodeVariant;
    this.prefillVariant = r.prefillVariant;
    this.lanes = r.lanes;
    this.subgroups = r.subgroups;
    this.kvType = r.kvType;

    // Each module as its .wgsl's `Module =` line lists it: the Step and Params structs and
    // attention_common.wgsl first, then the shader's own parts. Bindings in the order the
    // shaders' headers list them.
    const head = STEP_WGSL + AttentionKernel.uniforms.wgsl('Params') + commonSource + (r.kvType === 'q8_0' ? kvQ8Source : kvF16Source);
    const kernel = (label: string, bindings: GPUBufferBindingType[], parts: string[], constants: Record<string, number>) =>
      new ComputeKernel(device, { label, bindings, code: [head, ...parts].join('\n'), constants });
    const ro = 'read-only-storage';
    const splitK = { HD: headDim, CHUNK: this.chunk, WG: this.decodeWorkgroupSize };
    const decodeBindings: GPUBufferBindingType[] = [ro, ro, ro, 'storage', 'storage', 'uniform', 'uniform'];
    const ropeBindings: GPUBufferBindingType[] = [ro, ro, 'storage', 'storage', 'storage', 'storage', 'uniform', 'uniform', 'uniform'];
    const neox = (opts.ropeStyle ?? 'neox') === 'neox' ? 1 : 0;
    if (r.lanes) {
      // [enable subgroups;] + the constants, then as attention_lanes.wgsl's `Module:` lists it.
      const lanesHead = (r.subgroups ? 'enable subgroups;\n\n' : '') + lanesConstants(headDim, this.chunk, this.decodeWorkgroupSize, r.lanes, r.shuffle, r.kvType) + head + (r.kvType === 'q8_0' ? kvLanesQ8Source : kvLanesF16Source);
      const reduce = r.subgroups ? [lanesSubgroupSource] : [workgroupReduce, lanesWorkgroupSource];
      const lanesKernel = (label: string, bindings: GPUBufferBindingType[], parts: string[], constants: Record<string, number>) =>
        new ComputeKernel(device, { label, bindings, code: [lanesHead, ...reduce, ...parts, lanesSource, splitKSource].join('\n'), constants });
      // q, K, V -> partO, partML; step, params
      this.decode = lanesKernel('attention.decode_lanes', decodeBindings, [decodeLanesSource, decodeQuerySource], {});
      // qkv, factors -> K, V (row pos written), partO, partML; step, params, rope params
      this.decodeRope = lanesKernel('attention.decode_rope_lanes', ropeBindings, [ROPE_WGSL, q8QuantSource, decodeRopeCommonSource, r.kvType === 'q8_0' ? kvLanesNewQ8Source : kvLanesNewF16Source, decodeRopeLanesSource], { NEOX: neox });
    } else {
      // q, K, V -> partO, partML; step, params
      this.decode = kernel('attention.decode', decodeBindings, [workgroupReduce, decodeSource, decodeQuerySource, partialsSource, splitKSource], splitK);
      // qkv, factors -> K, V (row pos written), partO, partML; step, params, rope params
      this.decodeRope = kernel('attention.decode_rope', ropeBindings, [workgroupReduce, ROPE_WGSL, q8QuantSource, decodeRopeCommonSource, decodeRopeSource, partialsSource, splitKSource], { ...splitK, NEOX: neox });
    }
    // partO, partML -> att; step, params
    this.merge = kernel('attention.merge', [ro, ro, 'storage', 'uniform', 'uniform'], [mergeSource], { HD: headDim, CHUNK: this.chunk, WG: MERGE_WG });
    // q, K, V -> att; step, params
    if (r.prefillVariant === 'rows-f16') {
      const consts = [`const HD: u32 = ${headDim}u;`, `const NW: u32 = ${headDim / 2}u;`, `const BQ: u32 = ${this.tileQ}u;`, `const BK: u32 = ${this.tileK}u;`, ''].join('\n');
      const code = ['enable f16;\n', consts, head, prefillF16Source].join('\n');
      this.prefill = new ComputeKernel(device, { label: 'attention.prefill_f16', bindings: [ro, ro, ro, 'storage', 'uniform', 'uniform'], code });
    } else {
      this.prefill = kernel('attention.prefill', [ro, ro, ro, 'storage', 'uniform', 'uniform'], [prefillSource], {
        HD: headDim,
        BQ: this.tileQ,
        BK: this.tileK,
        TPR: this.threadsPerRow,
      });
    }
  }

  maxChunks(maxCtx: number): number {
    return Math.ceil(maxCtx / this.chunk);
  }

  private checkShape(shape: AttentionShape): void {
    const { nHeads, nKvHeads, headDim, maxCtx, window } = shape;
    if (headDim !== this.headDim) throw new Error(`attention: kernel built for headDim ${this.headDim}, shape has ${headDim}`);
    if (!(nKvHeads >= 1 && nHeads % nKvHeads === 0)) throw new Error(`attention: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (!(maxCtx >= 1 && window >= 0)) throw new Error('attention: bad maxCtx or window');
    if (shape.scale !== undefined && !Number.isFinite(shape.scale)) throw new Error(`attention: scale ${shape.scale} is not finite`);
    const problem = shape.sparse && blockSparseProblem(shape.sparse);
    if (problem) throw new Error(`attention: ${problem}`);
    // The shaders add h * headStep to a key block in u32.
    if (shape.sparse && nHeads * shape.sparse.headStep + maxCtx >= 2 ** 31) throw new Error('attention: nHeads * headStep + maxCtx must stay below 2^31');
  }

  /** Static uniform for a model; made once at load, shared by every layer. */
  createParams(shape: AttentionShape): GPUBuffer {
    this.checkShape(shape);
    const { nHeads, nKvHeads, maxCtx, window, headDim } = shape;
    const sp = shape.sparse;
    const values = {
      nHeads, nKvHeads, maxCtx, window,
      scale: shape.scale ?? 1 / Math.sqrt(headDim),
      maxChunks: this.maxChunks(maxCtx),
      sparseBlock: sp?.blockSize ?? 0,
      localBlocks: sp?.localBlocks ?? 0,
      vertStride: sp?.vertStride ?? 1,
      headStep: sp?.headStep ?? 0,
      _pad0: 0,
      _pad1: 0,
    };
    return createUniform(this.device, AttentionKernel.uniforms, 'attention.params', values);
  }

  /** Split-K scratch sized for decodeMaxTokens tokens; made once at load. */
  createScratch(shape: AttentionShape): AttentionScratch {
    const slots = this.decodeMaxTokens * shape.nHeads * this.maxChunks(shape.maxCtx);
    const make = (label: string, size: number) =>
      this.device.createBuffer({ label, size: Math.max(16, size), usage: GPUBufferUsage.STORAGE });
    return { partO: make('attention.partO', slots * this.headDim * 4), partML: make('attention.partML', slots * 8) };
  }

  /** Bind groups of one layer for steps of m tokens: q [m, nHeads * headDim] in, att out. */
  bind(shared: AttentionShared, kv: LayerKv, q: GPUBuffer, att: GPUBuffer): AttentionBinding {
    const { shape, params, step, scratch } = shared;
    this.checkShape(shape);
    return {
      shape,
      decode: this.decode.bind(q, kv.k, kv.v, scratch.partO, scratch.partML, step, params),
      merge: this.merge.bind(scratch.partO, scratch.partML, att, step, params),
      prefill: this.prefill.bind(q, kv.k, kv.v, att, step, params),
    };
  }

  /**
   * Bind groups of one layer for a decoded token: raw qkv in (q is rotated inside the pass and
   * never stored), the token's K and V appended to the layer's cache, att out.
   */
  bindDecode(shared: AttentionShared, kv: LayerKv, rope: AttentionRopeInputs, att: GPUBuffer): DecodeAttentionBinding {
    const { shape, params, step, scratch } = shared;
    this.checkShape(shape);
    const rowFloats = (shape.nHeads + 2 * shape.nKvHeads) * shape.headDim;
    if (rope.qkv.size < rowFloats * 4) throw new RangeError(`attention: qkv has ${rope.qkv.size} B, one token needs ${rowFloats * 4}`);
    return {
      shape,
      decodeRope: this.decodeRope.bind(rope.qkv, rope.factors, kv.k, kv.v, scratch.partO, scratch.partML, step, params, rope.ropeParams),
      merge: this.merge.bind(scratch.partO, scratch.partML, att, step, params),
    };
  }

  /**
   * One decoded token at `pos`: RoPE, the append of its K and V at `pos`, and attention over
   * keys up to `pos`, in two dispatches (fused split-K pass, merge). Replaces rope_kv.encode plus
   * encode() for M = 1; the Step uniform must hold { pos0: pos, nTokens: 1 }. With `merge` false
   * only the split-K pass: its partials are then merged by their reader (a Wo GEMV made with
   * attentionMerge, src/kernels/matvec.ts).
   */
  encodeDecodeRope(pass: GPUComputePassEncoder, binding: DecodeAttentionBinding, pos: number, merge = true): void {
    const { nHeads, window, maxCtx } = binding.shape;
    if (!(Number.isInteger(pos) && pos >= 0 && pos < maxCtx)) throw new Error(`attention: position ${pos} outside the cache (${maxCtx})`);
    const { count } = decodeChunks(pos, 1, window, this.chunk);
    this.decodeRope.dispatch(pass, binding.decodeRope, count, nHeads, 1);
    if (merge) this.encodeMerge(pass, binding, 1);
  }

  /** A bind group of the merge pass alone (shared's partials into att), for encodeMerge. */
  bindMerge(shared: AttentionShared, att: GPUBuffer): { shape: AttentionShape; merge: GPUBindGroup } {
    const { shape, params, step, scratch } = shared;
    this.checkShape(shape);
    return { shape, merge: this.merge.bind(scratch.partO, scratch.partML, att, step, params) };
  }

  /** The merge pass alone, over the partials of the last split-K pass of nTokens tokens. */
  encodeMerge(pass: GPUComputePassEncoder, binding: { shape: AttentionShape; merge: GPUBindGroup }, nTokens: number): void {
    this.merge.dispatch(pass, binding.merge, binding.shape.nHeads, nTokens);
  }

  /** Encodes this step's attention (the Step uniform must hold the same pos0 and nTokens). */
  encode(pass: GPUComputePassEncoder, binding: AttentionBinding, step: Step): void {
    if (step.nTokens <= this.decodeMaxTokens) this.encodeDecode(pass, binding, step);
    else this.encodePrefill(pass, binding, step);
  }

  /** The split-K pass, then (unless `merge` is false) the merge pass. */
  encodeDecode(pass: GPUComputePassEncoder, binding: AttentionBinding, { pos0, nTokens }: Step, merge = true): void {
    const { nHeads, window, maxCtx } = binding.shape;
    if (nTokens > this.decodeMaxTokens) throw new Error(`attention: split-K path takes at most ${this.decodeMaxTokens} tokens, got ${nTokens}`);
    if (pos0 + nTokens > maxCtx) throw new Error(`attention: step ends at ${pos0 + nTokens} beyond the cache (${maxCtx})`);
    const { count } = decodeChunks(pos0, nTokens, window, this.chunk);
    this.decode.dispatch(pass, binding.decode, count, nHeads, nTokens);
    if (merge) this.encodeMerge(pass, binding, nTokens);
  }

  encodePrefill(pass: GPUComputePassEncoder, binding: AttentionBinding, { pos0, nTokens }: Step): void {
    const { nHeads, maxCtx } = binding.shape;
    if (pos0 + nTokens > maxCtx) throw new Error(`attention: step ends at ${pos0 + nTokens} beyond the cache (${maxCtx})`);
    this.prefill.dispatch(pass, binding.prefill, Math.ceil(nTokens / this.tileQ), nHeads);
  }
}
