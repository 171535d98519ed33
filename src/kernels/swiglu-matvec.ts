/**
 * Phi-3's feed-forward input side in one decode dispatch (shaders/swiglu_matvec.wgsl):
 *   h[yOffset + r] (+)= silu(gate_r . x') * (up_r . x'),  r < ffn,
 * x' = rmsnorm(x) * g (option `norm`, default) or x, gate_r = row r and up_r = row upRow + r of
 * the fused ffn_up weight (upRow = ffn: gate rows first, then up). Replaces ffn_norm + ffn_up +
 * silu_mul. Gate and up rows must be in the same GpuWeight: an unsplit ffn_up (Phi-3's Q4_K
 * ffn_up is 28 MB, far under any binding limit), not the row-range parts of a split one.
 */
import driver from '../../shaders/swiglu_matvec.wgsl?raw';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import type { MatvecOptions } from './matvec.ts';
import { buildFusedMatvec, checkVector, partialVec4s } from './norm-matvec.ts';
import { checkWeight, weightBindEntries } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';
import type { CompiledPipeline } from '../gpu/pipelines.ts';

const MAX_OUT_ROWS = 16;

export interface SwigluMatvecOptions extends MatvecOptions {
  /** Output rows per workgroup, 1..16 (default 8: 16 weight rows, as matvec's default). */
  rowsPerWorkgroup?: number;
  /** Fuse the RMSNorm of x (default true); without it g is not read and bind() takes none. */
  norm?: boolean;
  /** With norm: the input comes as x * g plus partial sums of x^2 (norm-matvec.ts NormMatvecOptions). */
  prescaled?: boolean;
}

export class SwigluMatvecKernel {
  static readonly uniforms = new UniformLayout([
    ['k', 'u32'],
    ['rows', 'u32'],
    ['yOffset', 'u32'],
    ['accumulate', 'u32'],
    ['eps', 'f32'],
    ['upRow', 'u32'],
    ['parts4', 'u32'],
  ] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;
  readonly workgroupSize: number;
  /** Output rows per workgroup (each reads that many gate and up rows). */
  readonly rowsPerWorkgroup: number;
  readonly subgroups: boolean;
  readonly norm: boolean;
  readonly prescaled: boolean;

  constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    opts: SwigluMatvecOptions = {},
  ) {
    this.workgroupSize = opts.workgroupSize ?? 64;
    this.rowsPerWorkgroup = opts.rowsPerWorkgroup ?? 8;
    this.subgroups = opts.subgroups ?? device.features.has('subgroups');
    this.norm = opts.norm ?? true;
    this.prescaled = opts.prescaled ?? false;
    if (this.prescaled && !this.norm) throw new Error('swiglu_matvec: prescaled input needs the fused norm');
    if (!(Number.isInteger(this.rowsPerWorkgroup) && this.rowsPerWorkgroup >= 1 && this.rowsPerWorkgroup <= MAX_OUT_ROWS)) {
      throw new Error(`swiglu_matvec: rows per workgroup ${this.rowsPerWorkgroup} outside 1..${MAX_OUT_ROWS}`);
    }
    // thread r writes output row r
    if (this.rowsPerWorkgroup > this.workgroupSize) throw new Error(`swiglu_matvec: ${this.rowsPerWorkgroup} rows per workgroup need at least as many threads (got ${this.workgroupSize})`);
    ({ layout: this.layout, compiled: this.compiled } = buildFusedMatvec(device, format, 'swiglu_matvec', driver, {
      workgroupSize: this.workgroupSize,
      reduceRows: 2 * this.rowsPerWorkgroup + 1,
      maxReduceRows: 2 * MAX_OUT_ROWS + 1,
      subgroups: this.subgroups,
      constants: { NORM: this.norm ? 1 : 0, PRESCALED: this.prescaled ? 1 : 0 },
    }));
  }

  /**
   * Uniform buffer for the fused gate/up weight `w`: `ffn` outputs to h[yOffset .. yOffset + ffn)
   * (added when `accumulate`), gate rows 0 .. ffn, up rows upRow .. upRow + ffn (default ffn).
   * Checks that `w` holds both row ranges. Made once at load.
   */
  createParams(w: GpuWeight, p: { ffn: number; eps?: number; yOffset?: number; accumulate?: boolean; upRow?: number; parts?: number }): GPUBuffer {
    if (this.prescaled && !(Number.isInteger(p.parts) && p.parts! >= 1)) throw new Error('swiglu_matvec: a prescaled kernel needs the number of partial sums (parts)');
    const upRow = p.upRow ?? p.ffn;
    if (!(Number.isInteger(p.ffn) && p.ffn >= 1)) throw new RangeError(`swiglu_matvec: ffn ${p.ffn}`);
    if (upRow < p.ffn || upRow + p.ffn > w.rows) {
      throw new RangeError(`swiglu_matvec: gate rows 0..${p.ffn} and up rows ${upRow}..${upRow + p.ffn} do not fit a ${w.rows}-row weight`);
    }
    if (this.norm && p.eps === undefined) throw new Error('swiglu_matvec: the fused norm needs eps');
    const buf = this.device.createBuffer({
      label: `swiglu_matvec.${this.format}.params`,
      size: SwigluMatvecKernel.uniforms.byteSize,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const values = { k: w.k, rows: p.ffn, yOffset: p.yOffset ?? 0, accumulate: p.accumulate ? 1 : 0, eps: p.eps ?? 0, upRow, parts4: this.prescaled ? partialVec4s(p.parts!) : 0 };
    this.device.queue.writeBuffer(buf, 0, SwigluMatvecKernel.uniforms.pack(values));
    return buf;
  }

  /**
   * x: [k] f32, g: [k] f32 norm weight (null without `norm`; x is then bound in its place and
   * never read through it), h: f32 with room for yOffset + ffn (not x).
   */
  bind(w: GpuWeight, x: GPUBuffer, g: GPUBuffer | null, h: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (this.prescaled) throw new Error(`swiglu_matvec.${this.format}: a prescaled kernel binds with bindPrescaled`);
    if (this.norm && !g) throw new Error('swiglu_matvec: the fused norm needs its weight g');
    if (g) checkVector('swiglu_matvec', 'g', g, w.k);
    return this.group(w, x, g, h, params);
  }

  /** xg: [k] f32 = x * g; partials: the partial sums of x^2 (vec4s, params' parts4 of them). */
  bindPrescaled(w: GpuWeight, xg: GPUBuffer, partials: GPUBuffer, h: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (!this.prescaled) throw new Error(`swiglu_matvec.${this.format}: bindPrescaled on a kernel made without prescaled`);
    return this.group(w, xg, partials, h, params);
  }

  private group(w: GpuWeight, x: GPUBuffer, g: GPUBuffer | null, h: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (w.format !== this.format) throw new Error(`swiglu_matvec.${this.format}: got a ${w.format} weight`);
    checkVector('swiglu_matvec', 'x', x, w.k);
    return this.device.createBindGroup({
      label: `swiglu_matvec.${this.format}`,
      layout: this.layout,
      entries: [
        ...weightBindEntries(w),
        { binding: 2, resource: { buffer: x } },
        { binding: 3, resource: { buffer: h } },
        { binding: 4, resource: { buffer: params } },
        { binding: 5, resource: { buffer: g ?? x } },
      ],
    });
  }

  workgroups(ffn: number): number {
    const n = Math.ceil(ffn / this.rowsPerWorkgroup);
    if (n > this.device.limits.maxComputeWorkgroupsPerDimension) throw new RangeError(`swiglu_matvec: ${ffn} rows need ${n} workgroups, over the device limit`);
    return n;
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, ffn: number): void {
    pass.setPipeline(this.compiled.get());
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(this.workgroups(ffn));
  }
}

/** One-off run for tests: h = silu(gate x') * (up x') (+ hInit when accumulating). Not for the hot path. */
export async function runSwigluMatvec(
  kernel: SwigluMatvecKernel,
  w: GpuWeight,
  x: Float32Array,
  g: Float32Array | null,
  p: { ffn: number; eps?: number; upRow?: number },
  hInit: Float32Array,
  accumulate = false,
): Promise<Float32Array> {
  const { device } = kernel;
  checkWeight(w);
  if (w.k !== x.length) throw new RangeError(`swiglu_matvec: x has ${x.length} values, weight rows ${w.k}`);
  if (g && g.length !== x.length) throw new RangeError(`swiglu_matvec: g has ${g.length} values, x ${x.length}`);
  if (hInit.length < p.ffn) throw new RangeError('swiglu_matvec: h too short');
  const xb = uploadStorage(device, x, 'swiglu_matvec.x');
  const gb = g ? uploadStorage(device, g, 'swiglu_matvec.g') : null;
  const hb = uploadStorage(device, hInit, 'swiglu_matvec.h');
  const params = kernel.createParams(w, { ...p, accumulate });
  const enc = device.createCommandEncoder({ label: 'swiglu_matvec.once' });
  const pass = enc.beginComputePass();
  kernel.encode(pass, kernel.bind(w, xb, gb, hb, params), p.ffn);
  pass.end();
  device.queue.submit([enc.finish()]);
  const h = new Float32Array(await readBuffer(device, hb, hInit.byteLength));
  for (const b of [xb, hb, params]) b.destroy();
  gb?.destroy();
  return h;
}
