import driver from '../../shaders/embed.wgsl?raw';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { WeightKernel, createUniform, writeUniform } from './compute-kernel.ts';
import { checkWeight, formatInfo, weightShader } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';

/** Embedding gather out[m, :] = W[ids[m], :] over repacked weights (see shaders/embed.wgsl). */
export class EmbedKernel {
  static readonly uniforms = new UniformLayout([
    ['k', 'u32'],
    ['rows', 'u32'],
    ['m', 'u32'],
    ['rowOffset', 'u32'],
  ] as const);

  private readonly kernel: WeightKernel;

  constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    readonly workgroupSize = 64,
  ) {
    this.kernel = new WeightKernel(device, format, { label: `embed.${format}`, code: weightShader(format, driver), constants: { WG: workgroupSize } });
  }

  /** Uniform buffer for one table (part) holding rows [rowOffset, rowOffset + rows) and m ids. */
  createParams(k: number, rows: number, m: number, rowOffset = 0): GPUBuffer {
    const buf = createUniform(this.device, EmbedKernel.uniforms, `embed.${this.format}.params`);
    this.writeParams(buf, k, rows, m, rowOffset);
    return buf;
  }

  writeParams(buf: GPUBuffer, k: number, rows: number, m: number, rowOffset = 0): void {
    writeUniform(this.device, buf, EmbedKernel.uniforms, { k, rows, m, rowOffset });
  }

  /** ids: [m] u32, out: [m, k] f32. */
  bind(w: GpuWeight, ids: GPUBuffer, out: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.kernel.bindWeight(w, ids, out, params);
  }

  workgroups(k: number, m: number): [number, number] {
    if (m > this.device.limits.maxComputeWorkgroupsPerDimension) throw new RangeError(`embed: ${m} ids exceed the dispatch limit`);
    return [Math.ceil(k / formatInfo(this.format).chunk / this.workgroupSize), m];
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, k: number, m: number): void {
    this.kernel.dispatch(pass, bindGroup, ...this.workgroups(k, m));
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
