import source from '../../shaders/rmsnorm.wgsl?raw';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/** RMSNorm over rows of x (see shaders/rmsnorm.wgsl for bindings and dispatch). */
export class RmsNormKernel {
  static readonly uniforms = new UniformLayout([
    ['n', 'u32'],
    ['rows', 'u32'],
    ['eps', 'f32'],
  ] as const);

  private readonly kernel: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup),
  ) {
    if (workgroupSize & (workgroupSize - 1)) throw new Error(`rmsnorm: workgroup size ${workgroupSize} is not a power of two`);
    this.kernel = new ComputeKernel(device, {
      label: 'rmsnorm',
      bindings: ['read-only-storage', 'read-only-storage', 'storage', 'uniform'],
      code: source,
      constants: { WG: workgroupSize },
    });
  }

  /** Uniform buffer for a fixed (n, rows, eps); made once at load, rewritten only if rows change. */
  createParams(n: number, rows: number, eps: number): GPUBuffer {
    return createUniform(this.device, RmsNormKernel.uniforms, 'rmsnorm.params', { n, rows, eps });
  }

  bind(x: GPUBuffer, w: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.kernel.bind(x, w, y, params);
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number): void {
    this.kernel.dispatch(pass, bindGroup, rows);
  }
}

/**
 * One-off run for tests and the in-app self-test: uploads x and w, runs once, reads y back.
 * Not for the hot path (allocates and submits on its own).
 */
export async function runRmsNorm(
  kernel: RmsNormKernel,
  x: Float32Array,
  w: Float32Array,
  rows: number,
  n: number,
  eps: number,
): Promise<Float32Array> {
  const { device } = kernel;
  const xb = uploadStorage(device, x, 'rmsnorm.x');
  const wb = uploadStorage(device, w, 'rmsnorm.w');
  const yb = createStorage(device, rows * n * 4, 'rmsnorm.y');
  const params = kernel.createParams(n, rows, eps);
  const enc = device.createCommandEncoder({ label: 'rmsnorm.once' });
  const pass = enc.beginComputePass();
  kernel.encode(pass, kernel.bind(xb, wb, yb, params), rows);
  pass.end();
  device.queue.submit([enc.finish()]);
  const y = new Float32Array(await readBuffer(device, yb, rows * n * 4));
  for (const b of [xb, wb, yb, params]) b.destroy();
  return y;
}
