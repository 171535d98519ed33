import source from '../../shaders/layernorm.wgsl?raw';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/**
 * LayerNorm over rows of x, optionally adding a pending bias into x first (see
 * shaders/layernorm.wgsl for bindings and dispatch): createParams(n, rows, eps, addPre),
 * bind(x, w, b, pre, y, params), encode(pass, group, rows).
 */
export class LayerNormKernel {
  static readonly uniforms = new UniformLayout([
    ['n', 'u32'],
    ['rows', 'u32'],
    ['eps', 'f32'],
    ['addPre', 'u32'],
  ] as const);

  private readonly kernel: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup),
  ) {
    if (workgroupSize & (workgroupSize - 1)) throw new Error(`layernorm: workgroup size ${workgroupSize} is not a power of two`);
    this.kernel = new ComputeKernel(device, {
      label: 'layernorm',
      bindings: ['storage', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'uniform'],
      code: source,
      constants: { WG: workgroupSize },
    });
  }

  /** Uniform for rows of n; `addPre`: add the `pre` binding into x before normalizing. Made once at load. */
  createParams(n: number, rows: number, eps: number, addPre: boolean): GPUBuffer {
    return createUniform(this.device, LayerNormKernel.uniforms, 'layernorm.params', { n, rows, eps, addPre: addPre ? 1 : 0 });
  }

  /** `pre` is bound even when unused (params without addPre): any storage buffer of n floats. */
  bind(x: GPUBuffer, w: GPUBuffer, b: GPUBuffer, pre: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.kernel.bind(x, w, b, pre, y, params);
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number): void {
    this.kernel.dispatch(pass, bindGroup, rows);
  }
}

/**
 * One-off run for tests: uploads x, w, b (and pre), runs once, reads y and x back. Not for the
 * hot path (allocates and submits on its own).
 */
export async function runLayerNorm(
  kernel: LayerNormKernel,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  pre: Float32Array | undefined,
  rows: number,
  n: number,
  eps: number,
): Promise<{ y: Float32Array; x: Float32Array }> {
  const { device } = kernel;
  const xb = uploadStorage(device, x, 'layernorm.x');
  const wb = uploadStorage(device, w, 'layernorm.w');
  const bb = uploadStorage(device, b, 'layernorm.b');
  const pb = uploadStorage(device, pre ?? new Float32Array(n), 'layernorm.pre');
  const yb = createStorage(device, rows * n * 4, 'layernorm.y');
  const params = kernel.createParams(n, rows, eps, pre !== undefined);
  const enc = device.createCommandEncoder({ label: 'layernorm.once' });
  const pass = enc.beginComputePass();
  kernel.encode(pass, kernel.bind(xb, wb, bb, pb, yb, params), rows);
  pass.end();
  device.queue.submit([enc.finish()]);
  const y = new Float32Array(await readBuffer(device, yb, rows * n * 4));
  const xOut = new Float32Array(await readBuffer(device, xb, rows * n * 4));
  for (const buf of [xb, wb, bb, pb, yb, params]) buf.destroy();
  return { y, x: xOut };
}
