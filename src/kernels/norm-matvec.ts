/**
 * Decode GEMV with the RMSNorm of its input fused in (shaders/norm_matvec.wgsl):
 *   y[yOffset + r] (+)= sum_k W[r, k] * (x[k] * invRms(x) * g[k]).
 * Replaces an rmsnorm dispatch plus the matvec that reads its output. Each workgroup recomputes
 * sum x^2 over all of x from the chunks it loads for its rows anyway (k <= 8192 floats: nothing
 * next to its weight rows).
 */
import driver from '../../shaders/norm_matvec.wgsl?raw';
import reduceSubgroup from '../../shaders/reduce_subgroup.wgsl?raw';
import reduceTree from '../../shaders/reduce_tree.wgsl?raw';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import type { MatvecOptions } from './matvec.ts';
import { checkWeight, weightBindEntries, weightLayoutEntries, weightShader } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';

const MAX_OUT_ROWS = 32;

/** Shared by the fused decode kernels: checks the options, builds layout and pipeline. */
export function buildFusedMatvec(
  device: GPUDevice,
  format: WeightFormat,
  name: string,
  driverCode: string,
  opts: { workgroupSize: number; reduceRows: number; maxReduceRows: number; subgroups: boolean; constants?: Record<string, number> },
): { layout: GPUBindGroupLayout; compiled: CompiledPipeline } {
  const wg = opts.workgroupSize;
  if (wg & (wg - 1) || wg < 1 || wg > device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`${name}: workgroup size ${wg} is not a power of two within the device limit`);
  }
  if (!(opts.reduceRows >= 2 && opts.reduceRows <= opts.maxReduceRows)) {
    throw new Error(`${name}: ${opts.reduceRows} reduction rows outside 2..${opts.maxReduceRows}`);
  }
  // red[ROWS * WG] plus the small per-row exchange
  const shared = 4 * (opts.reduceRows * wg + opts.maxReduceRows);
  if (shared > device.limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`${name}: ${opts.reduceRows} rows x ${wg} threads need ${shared} B of workgroup memory, over the device limit`);
  }
  if (opts.subgroups && !device.features.has('subgroups')) throw new Error(`${name}: the device lacks the subgroups feature`);
  const label = `${name}.${format}`;
  const layout = device.createBindGroupLayout({
    label,
    entries: [
      ...weightLayoutEntries(format),
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      { binding: 5, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    ],
  });
  const code = weightShader(format, driverCode, { subgroups: opts.subgroups, tail: opts.subgroups ? reduceSubgroup : reduceTree });
  const compiled = compileCompute(device, {
    label,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: {
      module: device.createShaderModule({ label, code }),
      entryPoint: 'main',
      constants: { WG: wg, ROWS: opts.reduceRows, ...opts.constants },
    },
  });
  return { layout, compiled };
}

/** Checks the x / g vectors against a weight's row length (both f32 [k]). */
export function checkVector(name: string, what: string, buf: GPUBuffer, k: number): void {
  if (buf.size < 4 * k) throw new RangeError(`${name}: ${what} has ${buf.size} B, needs ${4 * k} (k = ${k})`);
}

export interface NormMatvecOptions extends MatvecOptions {
  /**
   * The input comes as x * g plus partial sums of x^2 (from a matvec with normOut): no g loads and
   * no squaring here. Bind with bindPrescaled; createParams needs `parts`.
   */
  prescaled?: boolean;
}

/** vec4s holding `parts` partial sums (the buffer a normOut matvec writes, padded with zeros). */
export function partialVec4s(parts: number): number {
  return Math.ceil(parts / 4);
}

/** Decode GEMV y (+)= W (rmsnorm(x) * g) over repacked weights of one format. */
export class NormMatvecKernel {
  static readonly uniforms = new UniformLayout([
    ['k', 'u32'],
    ['rows', 'u32'],
    ['yOffset', 'u32'],
    ['accumulate', 'u32'],
    ['eps', 'f32'],
    ['parts4', 'u32'],
  ] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;
  readonly workgroupSize: number;
  /** Output rows per workgroup (the shader's ROWS - 1). */
  readonly rowsPerWorkgroup: number;
  readonly subgroups: boolean;
  readonly prescaled: boolean;

  constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    opts: NormMatvecOptions = {},
  ) {
    this.workgroupSize = opts.workgroupSize ?? 64;
    this.rowsPerWorkgroup = opts.rowsPerWorkgroup ?? 16;
    this.subgroups = opts.subgroups ?? device.features.has('subgroups');
    this.prescaled = opts.prescaled ?? false;
    if (!(Number.isInteger(this.rowsPerWorkgroup) && this.rowsPerWorkgroup >= 1 && this.rowsPerWorkgroup <= MAX_OUT_ROWS)) {
      throw new Error(`norm_matvec: rows per workgroup ${this.rowsPerWorkgroup} outside 1..${MAX_OUT_ROWS}`);
    }
    // thread r writes output row r
    if (this.rowsPerWorkgroup > this.workgroupSize) throw new Error(`norm_matvec: ${this.rowsPerWorkgroup} rows per workgroup need at least as many threads (got ${this.workgroupSize})`);
    ({ layout: this.layout, compiled: this.compiled } = buildFusedMatvec(device, format, 'norm_matvec', driver, {
      workgroupSize: this.workgroupSize,
      reduceRows: this.rowsPerWorkgroup + 1,
      maxReduceRows: MAX_OUT_ROWS + 1,
      subgroups: this.subgroups,
      constants: { PRESCALED: this.prescaled ? 1 : 0 },
    }));
  }

  /**
   * Uniform buffer for one weight (part): k elements per row, `rows` rows, written to
   * y[yOffset .. yOffset + rows) or added to it when `accumulate`; eps of the norm. Made once at load.
   */
  createParams(p: { k: number; rows: number; eps: number; yOffset?: number; accumulate?: boolean; parts?: number }): GPUBuffer {
    if (this.prescaled && !(Number.isInteger(p.parts) && p.parts! >= 1)) throw new Error('norm_matvec: a prescaled kernel needs the number of partial sums (parts)');
    const buf = this.device.createBuffer({
      label: `norm_matvec.${this.format}.params`,
      size: NormMatvecKernel.uniforms.byteSize,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const values = { k: p.k, rows: p.rows, yOffset: p.yOffset ?? 0, accumulate: p.accumulate ? 1 : 0, eps: p.eps, parts4: this.prescaled ? partialVec4s(p.parts!) : 0 };
    this.device.queue.writeBuffer(buf, 0, NormMatvecKernel.uniforms.pack(values));
    return buf;
  }

  /** x: [k] f32 (un-normalized), g: [k] f32 norm weight, y: f32 with room for yOffset + rows (not x). */
  bind(w: GpuWeight, x: GPUBuffer, g: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (this.prescaled) throw new Error(`norm_matvec.${this.format}: a prescaled kernel binds with bindPrescaled`);
    checkVector('norm_matvec', 'g', g, w.k);
    return this.group(w, x, g, y, params);
  }

  /** xg: [k] f32 = x * g; partials: the partial sums of x^2 (vec4s, params' parts4 of them). */
  bindPrescaled(w: GpuWeight, xg: GPUBuffer, partials: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (!this.prescaled) throw new Error(`norm_matvec.${this.format}: bindPrescaled on a kernel made without prescaled`);
    return this.group(w, xg, partials, y, params);
  }

  private group(w: GpuWeight, x: GPUBuffer, g: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (w.format !== this.format) throw new Error(`norm_matvec.${this.format}: got a ${w.format} weight`);
    checkVector('norm_matvec', 'x', x, w.k);
    return this.device.createBindGroup({
      label: `norm_matvec.${this.format}`,
      layout: this.layout,
      entries: [
        ...weightBindEntries(w),
        { binding: 2, resource: { buffer: x } },
        { binding: 3, resource: { buffer: y } },
        { binding: 4, resource: { buffer: params } },
        { binding: 5, resource: { buffer: g } },
      ],
    });
  }

  workgroups(rows: number): number {
    const n = Math.ceil(rows / this.rowsPerWorkgroup);
    if (n > this.device.limits.maxComputeWorkgroupsPerDimension) throw new RangeError(`norm_matvec: ${rows} rows need ${n} workgroups, over the device limit`);
    return n;
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number): void {
    pass.setPipeline(this.compiled.get());
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(this.workgroups(rows));
  }
}

/**
 * One-off run for tests: y = W (rmsnorm(x) g) (or yInit + ... when accumulating) over the weight
 * parts, each writing its rows at its row offset. Not for the hot path.
 */
export async function runNormMatvec(
  kernel: NormMatvecKernel,
  parts: readonly { weight: GpuWeight; rowOffset: number }[],
  x: Float32Array,
  g: Float32Array,
  eps: number,
  yInit: Float32Array,
  accumulate = false,
): Promise<Float32Array> {
  const { device } = kernel;
  if (g.length !== x.length) throw new RangeError(`norm_matvec: g has ${g.length} values, x ${x.length}`);
  const xb = uploadStorage(device, x, 'norm_matvec.x');
  const gb = uploadStorage(device, g, 'norm_matvec.g');
  const yb = uploadStorage(device, yInit, 'norm_matvec.y');
  const params: GPUBuffer[] = [];
  const enc = device.createCommandEncoder({ label: 'norm_matvec.once' });
  const pass = enc.beginComputePass();
  for (const { weight, rowOffset } of parts) {
    checkWeight(weight);
    if (weight.k !== x.length) throw new RangeError(`norm_matvec: x has ${x.length} values, weight rows ${weight.k}`);
    if (rowOffset + weight.rows > yInit.length) throw new RangeError('norm_matvec: y too short for the weight rows');
    const p = kernel.createParams({ k: weight.k, rows: weight.rows, eps, yOffset: rowOffset, accumulate });
    params.push(p);
    kernel.encode(pass, kernel.bind(weight, xb, gb, yb, p), weight.rows);
  }
  pass.end();
  device.queue.submit([enc.finish()]);
  const y = new Float32Array(await readBuffer(device, yb, yInit.byteLength));
  for (const b of [xb, gb, yb, ...params]) b.destroy();
  return y;
}
