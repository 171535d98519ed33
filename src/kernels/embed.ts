import driver from '../../shaders/embed.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { WeightKernel, createUniform, writeUniform } from './compute-kernel.ts';
import { formatInfo, weightShader } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';

/** Embedding gather out[m, :] = W[ids[m], :] * scale over repacked weights (see shaders/embed.wgsl); scale 1 is exact. */
export class EmbedKernel {
  static readonly uniforms = new UniformLayout([
    ['k', 'u32'],
    ['rows', 'u32'],
    ['m', 'u32'],
    ['rowOffset', 'u32'],
    ['scale', 'f32'],
  ] as const);

  private readonly kernel: WeightKernel;

  constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    readonly workgroupSize = 64,
  ) {
    this.kernel = new WeightKernel(device, format, { label: `embed.${format}`, code: weightShader(format, driver), constants: { WG: workgroupSize } });
  }

  /** Uniform buffer for one table (part) holding rows [rowOffset, rowOffset + rows), m ids, and the factor every value is multiplied by. */
  createParams(k: number, rows: number, m: number, rowOffset = 0, scale = 1): GPUBuffer {
    const buf = createUniform(this.device, EmbedKernel.uniforms, `embed.${this.format}.params`);
    this.writeParams(buf, k, rows, m, rowOffset, scale);
    return buf;
  }

  writeParams(buf: GPUBuffer, k: number, rows: number, m: number, rowOffset = 0, scale = 1): void {
    writeUniform(this.device, buf, EmbedKernel.uniforms, { k, rows, m, rowOffset, scale });
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
