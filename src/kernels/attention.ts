/**
 * Causal (optionally sliding-window) softmax attention over a layer's f16 KV cache, two paths:
 *   - split-K "flash-decoding" for steps of at most `decodeMaxTokens` tokens:
 *     shaders/attention_decode.wgsl (one workgroup per key chunk, head, token) then
 *     shaders/attention_merge.wgsl (one per head, token);
 *   - tiled causal attention for prefill: shaders/attention_prefill.wgsl;
 *   - for one decoded token, the split-K pass with RoPE and the KV append fused in
 *     (shaders/attention_decode_rope.wgsl, reading raw qkv; replaces rope_kv + the split-K pass).
 * Both read q [M, nHeads*headDim] (rotated, unscaled), write att [M, nHeads*headDim], and agree
 * with attention.ref.ts. Pipelines are made once per headDim; bind groups once per layer.
 */
import commonSource from '../../shaders/attention_common.wgsl?raw';
import decodeSource from '../../shaders/attention_decode.wgsl?raw';
import partialsSource from '../../shaders/attention_partials.wgsl?raw';
import mergeSource from '../../shaders/attention_merge.wgsl?raw';
import prefillSource from '../../shaders/attention_prefill.wgsl?raw';
import decodeRopeSource from '../../shaders/attention_decode_rope.wgsl?raw';
import workgroupReduce from '../../shaders/workgroup_reduce.wgsl?raw';
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
    ['_pad0', 'u32'],
    ['_pad1', 'u32'],
  ] as const);

  readonly chunk: number;
  readonly decodeWorkgroupSize: number;
  readonly decodeMaxTokens: number;
  readonly tileQ: number;
  readonly tileK: number;
  readonly threadsPerRow: number;
  private readonly decode: ComputeKernel;
  private readonly merge: ComputeKernel;
  private readonly prefill: ComputeKernel;
  private readonly decodeRope: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly headDim: number,
    opts: AttentionOptions = {},
  ) {
    const limits = device.limits;
    const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
    this.chunk = opts.chunk ?? 256;
    this.decodeWorkgroupSize = opts.decodeWorkgroupSize ?? Math.min(128, limits.maxComputeInvocationsPerWorkgroup);
    this.decodeMaxTokens = opts.decodeMaxTokens ?? 4;
    this.threadsPerRow = opts.threadsPerRow ?? 8;
    const words = headDim / 2;
    if (!Number.isInteger(words) || headDim < 2) throw new Error(`attention: headDim ${headDim} must be even`);
    if (!pow2(this.decodeWorkgroupSize) || this.decodeWorkgroupSize < words) {
      throw new Error(`attention: decode workgroup size ${this.decodeWorkgroupSize} must be a power of two >= headDim/2`);
    }
    if (!(this.chunk >= 1 && this.decodeMaxTokens >= 1)) throw new Error('attention: bad chunk or decodeMaxTokens');
    if (!pow2(this.threadsPerRow) || words > MAX_WPT * this.threadsPerRow) {
      throw new Error(`attention: headDim ${headDim} needs more than ${MAX_WPT} words per prefill thread`);
    }
    // Prefill tiles: shrink K tile, then Q tile, until they fit the device's workgroup memory.
    let tileQ = opts.tileQ ?? 16;
    let tileK = opts.tileK ?? 32;
    const bytes = () => 4 * (tileQ * headDim + tileK * words + tileQ * tileK);
    const fixed = opts.tileQ !== undefined && opts.tileK !== undefined;
    while (!fixed && bytes() > limits.maxComputeWorkgroupStorageSize && tileK > 8) tileK /= 2;
    while (!fixed && bytes() > limits.maxComputeWorkgroupStorageSize && tileQ > 1) tileQ /= 2;
    if (bytes() > limits.maxComputeWorkgroupStorageSize || tileQ * this.threadsPerRow > limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`attention: prefill tiles ${tileQ}x${tileK} at headDim ${headDim} exceed the device limits`);
    }
    this.tileQ = tileQ;
    this.tileK = tileK;
    // The fused pass adds the (cos, sin) table and the new k and v: 4 more headDim floats.
    const decodeBytes = 4 * (5 * headDim + this.chunk) + 12 * this.decodeWorkgroupSize;
    if (decodeBytes > limits.maxComputeWorkgroupStorageSize) throw new Error(`attention: chunk ${this.chunk} exceeds workgroup memory`);

    // Each module as its .wgsl's `Module =` line lists it: the Step and Params structs and
    // attention_common.wgsl first, then the shader's own parts. Bindings in the order the
    // shaders' headers list them.
    const head = STEP_WGSL + AttentionKernel.uniforms.wgsl('Params') + commonSource;
    const kernel = (label: string, bindings: GPUBufferBindingType[], parts: string[], constants: Record<string, number>) =>
      new ComputeKernel(device, { label, bindings, code: [head, ...parts].join('\n'), constants });
    const ro = 'read-only-storage';
    const splitK = { HD: headDim, CHUNK: this.chunk, WG: this.decodeWorkgroupSize };
    // q, K, V -> partO, partML; step, params
    this.decode = kernel('attention.decode', [ro, ro, ro, 'storage', 'storage', 'uniform', 'uniform'], [workgroupReduce, decodeSource, partialsSource], splitK);
    // partO, partML -> att; step, params
    this.merge = kernel('attention.merge', [ro, ro, 'storage', 'uniform', 'uniform'], [mergeSource], { HD: headDim, CHUNK: this.chunk, WG: MERGE_WG });
    // q, K, V -> att; step, params
    this.prefill = kernel('attention.prefill', [ro, ro, ro, 'storage', 'uniform', 'uniform'], [prefillSource], {
      HD: headDim,
      BQ: this.tileQ,
      BK: this.tileK,
      TPR: this.threadsPerRow,
    });
    // qkv, factors -> K, V (row pos written), partO, partML; step, params, rope params
    this.decodeRope = kernel(
      'attention.decode_rope',
      [ro, ro, 'storage', 'storage', 'storage', 'storage', 'uniform', 'uniform', 'uniform'],
      [workgroupReduce, ROPE_WGSL, decodeRopeSource, partialsSource],
      { ...splitK, NEOX: (opts.ropeStyle ?? 'neox') === 'neox' ? 1 : 0 },
    );
  }

  maxChunks(maxCtx: number): number {
    return Math.ceil(maxCtx / this.chunk);
  }

  private checkShape(shape: AttentionShape): void {
    const { nHeads, nKvHeads, headDim, maxCtx, window } = shape;
    if (headDim !== this.headDim) throw new Error(`attention: kernel built for headDim ${this.headDim}, shape has ${headDim}`);
    if (!(nKvHeads >= 1 && nHeads % nKvHeads === 0)) throw new Error(`attention: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (!(maxCtx >= 1 && window >= 0)) throw new Error('attention: bad maxCtx or window');
  }

  /** Static uniform for a model; made once at load, shared by every layer. */
  createParams(shape: AttentionShape): GPUBuffer {
    this.checkShape(shape);
    const { nHeads, nKvHeads, maxCtx, window, headDim } = shape;
    const values = { nHeads, nKvHeads, maxCtx, window, scale: 1 / Math.sqrt(headDim), maxChunks: this.maxChunks(maxCtx), _pad0: 0, _pad1: 0 };
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
   * encode() for M = 1; the Step uniform must hold { pos0: pos, nTokens: 1 }.
   */
  encodeDecodeRope(pass: GPUComputePassEncoder, binding: DecodeAttentionBinding, pos: number): void {
    const { nHeads, window, maxCtx } = binding.shape;
    if (!(Number.isInteger(pos) && pos >= 0 && pos < maxCtx)) throw new Error(`attention: position ${pos} outside the cache (${maxCtx})`);
    const { count } = decodeChunks(pos, 1, window, this.chunk);
    this.decodeRope.dispatch(pass, binding.decodeRope, count, nHeads, 1);
    this.merge.dispatch(pass, binding.merge, nHeads, 1);
  }

  /** Encodes this step's attention (the Step uniform must hold the same pos0 and nTokens). */
  encode(pass: GPUComputePassEncoder, binding: AttentionBinding, step: Step): void {
    if (step.nTokens <= this.decodeMaxTokens) this.encodeDecode(pass, binding, step);
    else this.encodePrefill(pass, binding, step);
  }

  encodeDecode(pass: GPUComputePassEncoder, binding: AttentionBinding, { pos0, nTokens }: Step): void {
    const { nHeads, window, maxCtx } = binding.shape;
    if (nTokens > this.decodeMaxTokens) throw new Error(`attention: split-K path takes at most ${this.decodeMaxTokens} tokens, got ${nTokens}`);
    if (pos0 + nTokens > maxCtx) throw new Error(`attention: step ends at ${pos0 + nTokens} beyond the cache (${maxCtx})`);
    const { count } = decodeChunks(pos0, nTokens, window, this.chunk);
    this.decode.dispatch(pass, binding.decode, count, nHeads, nTokens);
    this.merge.dispatch(pass, binding.merge, nHeads, nTokens);
  }

  encodePrefill(pass: GPUComputePassEncoder, binding: AttentionBinding, { pos0, nTokens }: Step): void {
    const { nHeads, maxCtx } = binding.shape;
    if (pos0 + nTokens > maxCtx) throw new Error(`attention: step ends at ${pos0 + nTokens} beyond the cache (${maxCtx})`);
    this.prefill.dispatch(pass, binding.prefill, Math.ceil(nTokens / this.tileQ), nHeads);
  }
}
