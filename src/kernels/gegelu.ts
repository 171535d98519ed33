import source from '../../shaders/gegelu.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/**
 * h [M, ffn] = GeGeLU of gu [M, 2 ffn] + the up bias (see shaders/gegelu.wgsl):
 * createParams(ffn, limit), bind(gu, bias, h, params), encode(pass, group, ffn, M).
 */
export class GegeluKernel {
  static readonly uniforms = new UniformLayout([
    ['n', 'u32'],
    ['limit', 'f32'],
  ] as const);

  private readonly kernel: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup),
  ) {
    this.kernel = new ComputeKernel(device, {
      label: 'gegelu',
      bindings: ['read-only-storage', 'read-only-storage', 'storage', 'uniform'],
      code: source,
      constants: { WG: workgroupSize },
    });
  }

  /** Uniform for ffn outputs per row and the clamp limit (> 0); made once at load. */
  createParams(ffn: number, limit: number): GPUBuffer {
    if (!(limit > 0 && Number.isFinite(limit))) throw new Error(`gegelu: limit ${limit} must be positive and finite`);
    return createUniform(this.device, GegeluKernel.uniforms, 'gegelu.params', { n: ffn, limit });
  }

  bind(gu: GPUBuffer, bias: GPUBuffer, h: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.kernel.bind(gu, bias, h, params);
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, ffn: number, nTokens: number): void {
    this.kernel.dispatch(pass, bindGroup, Math.ceil(ffn / this.workgroupSize), nTokens);
  }
}
