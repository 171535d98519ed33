import source from '../../shaders/rope_kv.wgsl?raw';
import ropeCommon from '../../shaders/rope_common.wgsl?raw';
import q8QuantSource from '../../shaders/kv_q8_0_quant.wgsl?raw';
import type { KvCacheType as KvType } from './kv-layout.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { STEP_WGSL } from './step.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

export type RopeStyle = 'neox' | 'norm';

/** Static shape of one model's RoPE + KV append; the same for every layer. */
export interface RopeKvShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Rotated dims per head (<= headDim, even); the rest pass through. */
  ropeDim: number;
  /** Cache capacity in positions. */
  maxCtx: number;
  /** rope.freq_base (10000 for Phi-3). */
  base: number;
  /** Multiplies cos and sin (LongRoPE attention factor; 1 otherwise). */
  attnFactor: number;
}

/** Highest position the kernel's sin/cos range reduction is exact for (theta < 2^17 * pi/2). */
export const ROPE_MAX_POS = 2 ** 17;

const TABLE_MAX = 128;

/**
 * llama.cpp's `theta_scale = powf(freq_base, -2.0f/n_dims)` in f32. Math.pow in f64 rounded once
 * to f32 is the correctly rounded powf (glibc's powf is within 0.82 ulp, so the two can differ
 * in the last bit only in rare cases).
 */
export function ropeThetaScale(base: number, ropeDim: number): number {
  return Math.fround(Math.pow(Math.fround(base), Math.fround(-2 / ropeDim)));
}

/** RoPE on Q and K + append of K and V to a layer's cache, f16 or q8_0 (see shaders/rope_kv.wgsl). */
export class RopeKvKernel {
  /** The uniform `RopeParams`; one buffer per model, also bound by the fused decode attention. */
  static readonly uniforms = new UniformLayout([
    ['nHeads', 'u32'],
    ['nKvHeads', 'u32'],
    ['headDim', 'u32'],
    ['ropeDim', 'u32'],
    ['maxCtx', 'u32'],
    ['thetaScale', 'f32'],
    ['attnFactor', 'f32'],
    ['_pad', 'u32'],
  ] as const);

  private readonly kernel: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly style: RopeStyle = 'neox',
    readonly workgroupSize = 64,
    /** Heads (of Q | K | V) per workgroup; they share one cos/sin table. */
    readonly headsPerWorkgroup = 8,
    /** How the cache stores K and V (kv-cache.ref.ts); q8_0 needs headDim % 32 == 0 (createParams checks). */
    readonly kvType: KvType = 'f16',
  ) {
    this.kernel = new ComputeKernel(device, {
      label: `rope_kv.${style}.${kvType}`,
      // qkv, factors -> q, K, V; step, params
      bindings: ['read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage', 'uniform', 'uniform'],
      code: STEP_WGSL + ROPE_WGSL + q8QuantSource + source,
      constants: { WG: workgroupSize, NEOX: style === 'neox' ? 1 : 0, HALF_MAX: TABLE_MAX, HEADS: headsPerWorkgroup, KV_Q8: kvType === 'q8_0' ? 1 : 0 },
    });
  }

  /** Static uniform for a model; made once at load and shared by every layer. */
  createParams(shape: RopeKvShape): GPUBuffer {
    const { nHeads, nKvHeads, headDim, ropeDim, maxCtx, base, attnFactor } = shape;
    if (headDim % 2 || ropeDim % 2 || ropeDim < 2 || ropeDim > headDim) {
      throw new Error(`rope_kv: headDim ${headDim} and ropeDim ${ropeDim} must be even with 2 <= ropeDim <= headDim`);
    }
    if (ropeDim / 2 > TABLE_MAX) throw new Error(`rope_kv: ropeDim ${ropeDim} exceeds ${2 * TABLE_MAX}`);
    if (nHeads % nKvHeads) throw new Error(`rope_kv: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (this.kvType === 'q8_0' && headDim % 32) throw new Error(`rope_kv: a q8_0 cache needs headDim ${headDim} to be a multiple of 32`);
    if (maxCtx > ROPE_MAX_POS) throw new Error(`rope_kv: maxCtx ${maxCtx} exceeds ${ROPE_MAX_POS}`);
    const thetaScale = ropeThetaScale(base, ropeDim);
    return createUniform(this.device, RopeKvKernel.uniforms, 'rope_kv.params', { nHeads, nKvHeads, headDim, ropeDim, maxCtx, thetaScale, attnFactor, _pad: 0 });
  }

  /** A [ropeDim/2] f32 buffer of ones, for models without rope factors. */
  createUnitFactors(ropeDim: number): GPUBuffer {
    const buf = this.device.createBuffer({
      label: 'rope_kv.ones',
      size: Math.max(16, ropeDim * 2),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(buf, 0, new Float32Array(Math.max(4, ropeDim / 2)).fill(1));
    return buf;
  }

  /** One bind group per layer (the caches differ), made at load. */
  bind(qkv: GPUBuffer, factors: GPUBuffer, q: GPUBuffer, kCache: GPUBuffer, vCache: GPUBuffer, step: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.kernel.bind(qkv, factors, q, kCache, vCache, step, params);
  }

  /** nTokens = M of this step (the Step uniform must hold the same). */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, nTokens: number, nHeads: number, nKvHeads: number): void {
    this.kernel.dispatch(pass, bindGroup, nTokens, Math.ceil((nHeads + 2 * nKvHeads) / this.headsPerWorkgroup));
  }
}

/** `struct RopeParams` and shaders/rope_common.wgsl: what a shader that rotates heads prepends. */
export const ROPE_WGSL = RopeKvKernel.uniforms.wgsl('RopeParams') + ropeCommon;
