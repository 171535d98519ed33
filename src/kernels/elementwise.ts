import prelude from '../../shaders/elementwise.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/**
 * A row-wise elementwise kernel (shaders/elementwise.wgsl): binding 0 the input rows, 1 the
 * output rows of n values, 2 params { n }; one thread per output, M token rows.
 */
export class ElementwiseKernel {
  static readonly uniforms = new UniformLayout([['n', 'u32']] as const);

  private readonly kernel: ComputeKernel;

  /** `code`: the WGSL that follows shaders/elementwise.wgsl in the module (its `main`). */
  constructor(
    readonly device: GPUDevice,
    readonly label: string,
    code: string,
    readonly workgroupSize = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup),
  ) {
    this.kernel = new ComputeKernel(device, {
      label,
      bindings: ['read-only-storage', 'storage', 'uniform'],
      code: `${prelude}\n${code}`,
      constants: { WG: workgroupSize },
    });
  }

  get pipeline(): GPUComputePipeline {
    return this.kernel.pipeline;
  }

  /** Uniform for n outputs per row; made once at load. */
  createParams(n: number): GPUBuffer {
    return createUniform(this.device, ElementwiseKernel.uniforms, `${this.label}.params`, { n });
  }

  bind(src: GPUBuffer, dst: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.kernel.bind(src, dst, params);
  }

  /** n outputs in each of nTokens rows. */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, n: number, nTokens: number): void {
    this.kernel.dispatch(pass, bindGroup, Math.ceil(n / this.workgroupSize), nTokens);
  }
}
