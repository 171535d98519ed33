import driver from '../../shaders/embed.wgsl?raw';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { checkWeight, formatInfo, weightBindEntries, weightLayoutEntries, weightShader } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';

/** Embedding gather out[m, :] = W[ids[m], :] over repacked weights (see shaders/embed.wgsl). */
export class EmbedKernel {
  static readonly uniforms = new UniformLayout([
    ['k', 'u32'],
    ['rows', 'u32'],
    ['m', 'u32'],
    ['rowOffset', 'u32'],
  ] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;

  constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    readonly workgroupSize = 64,
  ) {
    const label = `embed.${format}`;
    this.layout = device.createBindGroupLayout({
      label,
      entries: [
        ...weightLayoutEntries(format),
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ],
    });
    this.compiled = compileCompute(device, {
      label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: {
        module: device.createShaderModule({ label, code: weightShader(format, driver) }),
        entryPoint: 'main',
        constants: { WG: workgroupSize },
      },
    });
  }

  get pipeline(): GPUComputePipeline {
    return this.compiled.get();
  }

  /** Uniform buffer for one table (part) holding rows [rowOffset, rowOffset + rows) and m ids. */
  createParams(k: number, rows: number, m: number, rowOffset = 0): GPUBuffer {
    const buf = this.device.createBuffer({
      label: `embed.${this.format}.params`,
      size: EmbedKernel.uniforms.byteSize,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.writeParams(buf, k, rows, m, rowOffset);
    return buf;
  }

  writeParams(buf: GPUBuffer, k: number, rows: number, m: number, rowOffset = 0): void {
    this.device.queue.writeBuffer(buf, 0, EmbedKernel.uniforms.pack({ k, rows, m, rowOffset }));
  }

  /** ids: [m] u32, out: [m, k] f32. */
  bind(w: GpuWeight, ids: GPUBuffer, out: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (w.format !== this.format) throw new Error(`embed.${this.format}: got a ${w.format} table`);
    return this.device.createBindGroup({
      label: `embed.${this.format}`,
      layout: this.layout,
      entries: [
        ...weightBindEntries(w),
        { binding: 2, resource: { buffer: ids } },
        { binding: 3, resource: { buffer: out } },
        { binding: 4, resource: { buffer: params } },
      ],
    });
  }

  workgroups(k: number, m: number): [number, number] {
    if (m > this.device.limits.maxComputeWorkgroupsPerDimension) throw new RangeError(`embed: ${m} ids exceed the dispatch limit`);
    return [Math.ceil(k / formatInfo(this.format).chunk / this.workgroupSize), m];
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, k: number, m: number): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...this.workgroups(k, m));
  }
}

/** One-off gather for tests: one dispatch per table part into the same output. */
export async function runEmbed(
  kernel: EmbedKernel,
  parts: readonly { weight: GpuWeight; rowOffset: number }[],
  ids: Uint32Array,
): Promise<Float32Array> {
  const { device } = kernel;
  const k = parts[0].weight.k;
  const idb = uploadStorage(device, ids, 'embed.ids');
  const out = createStorage(device, ids.length * k * 4, 'embed.out');
  const params: GPUBuffer[] = [];
  const enc = device.createCommandEncoder({ label: 'embed.once' });
  const pass = enc.beginComputePass();
  for (const { weight, rowOffset } of parts) {
    checkWeight(weight);
    const p = kernel.createParams(weight.k, weight.rows, ids.length, rowOffset);
    params.push(p);
    kernel.encode(pass, kernel.bind(weight, idb, out, p), weight.k, ids.length);
  }
  pass.end();
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, out, ids.length * k * 4));
  for (const b of [idb, out, ...params]) b.destroy();
  return got;
}
