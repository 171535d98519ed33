import source from '../../shaders/silu_mul.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';

/** h [M, ffn] = silu(gate) * up over gu [M, 2*ffn] (see shaders/silu_mul.wgsl). */
export class SiluMulKernel {
  static readonly uniforms = new UniformLayout([['ffn', 'u32']] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup),
  ) {
    this.layout = device.createBindGroupLayout({
      label: 'silu_mul',
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ],
    });
    this.compiled = compileCompute(device, {
      label: 'silu_mul',
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: {
        module: device.createShaderModule({ label: 'silu_mul', code: source }),
        entryPoint: 'main',
        constants: { WG: workgroupSize },
      },
    });
  }

  get pipeline(): GPUComputePipeline {
    return this.compiled.get();
  }

  /** Uniform for a model's ffn width; made once at load. */
  createParams(ffn: number): GPUBuffer {
    const buf = this.device.createBuffer({ label: 'silu_mul.params', size: SiluMulKernel.uniforms.byteSize, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buf, 0, SiluMulKernel.uniforms.pack({ ffn }));
    return buf;
  }

  bind(gu: GPUBuffer, h: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      label: 'silu_mul',
      layout: this.layout,
      entries: [gu, h, params].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, ffn: number, nTokens: number): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(ffn / this.workgroupSize), nTokens);
  }
}
