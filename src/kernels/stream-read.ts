import source from '../../shaders/stream_read.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/**
 * Reads a buffer once and sums it (shaders/stream_read.wgsl): the bandwidth a kernel that only
 * streams bytes gets on this adapter, against which the decode step's bandwidth is measured.
 */
export class StreamReadKernel {
  static readonly uniforms = new UniformLayout([
    ['n4', 'u32'],
    ['stride', 'u32'],
  ] as const);

  private readonly kernel: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = 256,
    readonly workgroups = 64,
  ) {
    this.kernel = new ComputeKernel(device, {
      label: 'stream_read',
      bindings: ['read-only-storage', 'storage', 'uniform'],
      code: source,
      constants: { WG: workgroupSize },
    });
  }

  /** Partial-sum buffer (one u32 per thread) shared by every source. */
  createPartials(): GPUBuffer {
    return this.device.createBuffer({ label: 'stream_read.partial', size: this.workgroups * this.workgroupSize * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  }

  /** A bind group reading `src` (its size a multiple of 16 bytes), with its own params. Made once. */
  bind(src: GPUBuffer, partials: GPUBuffer): GPUBindGroup {
    const params = createUniform(this.device, StreamReadKernel.uniforms, 'stream_read.params', { n4: Math.floor(src.size / 16), stride: this.workgroupSize * this.workgroups });
    return this.kernel.bind(src, partials, params);
  }

  encode(pass: GPUComputePassEncoder, group: GPUBindGroup): void {
    this.kernel.dispatch(pass, group, this.workgroups);
  }
}

/** CPU reference: the wrapping u32 sum of every word. */
export function streamReadRef(words: Uint32Array): number {
  let s = 0;
  for (let i = 0; i < words.length; i++) s = (s + words[i]) >>> 0;
  return s;
}
