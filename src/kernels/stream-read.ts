import source from '../../shaders/stream_read.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/**
 * Reads a buffer once and sums it (shaders/stream_read.wgsl): the bandwidth a kernel that only
 * streams bytes gets on this adapter, against which the decode step's bandwidth is measured.
 * The shape (threads per workgroup, vec4 loads per thread per iteration, grid stride or a
 * contiguous block per workgroup) is fixed per pipeline;
 * the number of workgroups is chosen per bind group, so one pipeline serves a sweep of counts.
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
    /** The default workgroup count of bind() and encode(). */
    readonly workgroups = 64,
    /** vec4 loads per thread per iteration (the shader's VEC), 1..8. */
    readonly vec4PerIteration = 1,
    /** Each workgroup reads a contiguous block (the shader's BLOCKED) instead of a grid stride. */
    readonly blocked = false,
  ) {
    if (workgroupSize & (workgroupSize - 1) || workgroupSize < 1 || workgroupSize > device.limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`stream_read: workgroup size ${workgroupSize} is not a power of two within the device limit`);
    }
    if (!(Number.isInteger(vec4PerIteration) && vec4PerIteration >= 1 && vec4PerIteration <= 8)) throw new Error(`stream_read: ${vec4PerIteration} loads per iteration outside 1..8`);
    this.kernel = new ComputeKernel(device, {
      label: 'stream_read',
      bindings: ['read-only-storage', 'storage', 'uniform'],
      code: source,
      constants: { WG: workgroupSize, VEC: vec4PerIteration, BLOCKED: blocked ? 1 : 0 },
    });
  }

  /** Partial-sum buffer (one u32 per thread of `workgroups`) shared by every source. */
  createPartials(workgroups = this.workgroups): GPUBuffer {
    return this.device.createBuffer({ label: 'stream_read.partial', size: workgroups * this.workgroupSize * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  }

  /**
   * A bind group reading `src` (its size a multiple of 16 bytes) with `workgroups` workgroups,
   * with its own params; encode it with the same count. Made once.
   */
  bind(src: GPUBuffer, partials: GPUBuffer, workgroups = this.workgroups): GPUBindGroup {
    if (partials.size < workgroups * this.workgroupSize * 4) throw new Error(`stream_read: the partials buffer is too small for ${workgroups} workgroups`);
    const params = createUniform(this.device, StreamReadKernel.uniforms, 'stream_read.params', { n4: Math.floor(src.size / 16), stride: this.workgroupSize * workgroups });
    return this.kernel.bind(src, partials, params);
  }

  encode(pass: GPUComputePassEncoder, group: GPUBindGroup, workgroups = this.workgroups): void {
    this.kernel.dispatch(pass, group, workgroups);
  }
}

/** CPU reference: the wrapping u32 sum of every word. */
export function streamReadRef(words: Uint32Array): number {
  let s = 0;
  for (let i = 0; i < words.length; i++) s = (s + words[i]) >>> 0;
  return s;
}
