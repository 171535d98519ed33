import source from '../../shaders/stream_read.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';

/**
 * Reads a buffer once and sums it (shaders/stream_read.wgsl): the bandwidth a kernel that only
 * streams bytes gets on this adapter, against which the decode step's bandwidth is measured.
 */
export class StreamReadKernel {
  static readonly uniforms = new UniformLayout([
    ['n4', 'u32'],
    ['stride', 'u32'],
  ] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = 256,
    readonly workgroups = 64,
  ) {
    this.layout = device.createBindGroupLayout({
      label: 'stream_read',
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ],
    });
    this.compiled = compileCompute(device, {
      label: 'stream_read',
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: { module: device.createShaderModule({ label: 'stream_read', code: source }), entryPoint: 'main', constants: { WG: workgroupSize } },
    });
  }

  get pipeline(): GPUComputePipeline {
    return this.compiled.get();
  }

  /** Partial-sum buffer (one u32 per thread) shared by every source. */
  createPartials(): GPUBuffer {
    return this.device.createBuffer({ label: 'stream_read.partial', size: this.workgroups * this.workgroupSize * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  }

  /** A bind group reading `src` (its size a multiple of 16 bytes). Made once. */
  bind(src: GPUBuffer, partials: GPUBuffer): GPUBindGroup {
    const params = this.device.createBuffer({ label: 'stream_read.params', size: StreamReadKernel.uniforms.byteSize, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(params, 0, StreamReadKernel.uniforms.pack({ n4: Math.floor(src.size / 16), stride: this.workgroupSize * this.workgroups }));
    return this.device.createBindGroup({
      layout: this.layout,
      entries: [
        { binding: 0, resource: { buffer: src } },
        { binding: 1, resource: { buffer: partials } },
        { binding: 2, resource: { buffer: params } },
      ],
    });
  }

  encode(pass: GPUComputePassEncoder, group: GPUBindGroup): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(this.workgroups);
  }
}

/** CPU reference: the wrapping u32 sum of every word. */
export function streamReadRef(words: Uint32Array): number {
  let s = 0;
  for (let i = 0; i < words.length; i++) s = (s + words[i]) >>> 0;
  return s;
}
