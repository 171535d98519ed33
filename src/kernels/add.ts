import source from '../../shaders/add.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';

/** y [M, n] += x [M, n] (see shaders/add.wgsl). */
export class AddKernel {
  static readonly uniforms = new UniformLayout([['n', 'u32']] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup),
  ) {
    this.layout = device.createBindGroupLayout({
      label: 'add',
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ],
    });
    this.compiled = compileCompute(device, {
      label: 'add',
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: {
        module: device.createShaderModule({ label: 'add', code: source }),
        entryPoint: 'main',
        constants: { WG: workgroupSize },
      },
    });
  }

  get pipeline(): GPUComputePipeline {
    return this.compiled.get();
  }

  /** Uniform for a row width n; made once at load. */
  createParams(n: number): GPUBuffer {
    const buf = this.device.createBuffer({ label: 'add.params', size: AddKernel.uniforms.byteSize, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buf, 0, AddKernel.uniforms.pack({ n }));
    return buf;
  }

  bind(x: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      label: 'add',
      layout: this.layout,
      entries: [x, y, params].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, n: number, nTokens: number): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(n / this.workgroupSize), nTokens);
  }
}
