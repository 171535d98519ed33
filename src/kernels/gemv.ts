/**
 * What the decode GEMVs (matvec.ts, norm-matvec.ts, swiglu-matvec.ts) share: their shape options
 * and the checks on them, their module (weight decoder + shaders/linear_bindings.wgsl +
 * gemv_common.wgsl + driver + reduction), their uniform (gemv_common.wgsl's Params), bindings
 * and dispatch. Each kernel
 * class says what its driver is (GemvDriver) and what its binding methods take.
 */
import gemvCommon from '../../shaders/gemv_common.wgsl?raw';
import linearBindings from '../../shaders/linear_bindings.wgsl?raw';
import reduceSubgroup from '../../shaders/reduce_subgroup.wgsl?raw';
import reduceTree from '../../shaders/reduce_tree.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { WeightKernel, createUniform } from './compute-kernel.ts';
import { hasF16Decoder, weightShader, type GpuWeight, type WeightFormat } from './weight-formats.ts';

export interface GemvOptions {
  /** Threads per workgroup; a power of two. */
  workgroupSize?: number;
  /** Output rows per workgroup (each kernel states its range and default); thread r writes row r. */
  rowsPerWorkgroup?: number;
  /** Reduce with subgroupAdd; defaults to whether the device has the `subgroups` feature. */
  subgroups?: boolean;
  /**
   * f16 math inside each chunk (shaders/quant_f16.wgsl): activations and quants in f16, products
   * and per-run sums in f16, everything across runs and chunks in f32. Needs the device's
   * `shader-f16` and a format with an f16 decoder (hasF16Decoder). Default false.
   */
  f16?: boolean;
}

/** shaders/gemv_common.wgsl Params. */
export const gemvUniforms = new UniformLayout([
  ['k', 'u32'],
  ['rows', 'u32'],
  ['yOffset', 'u32'],
  ['accumulate', 'u32'],
  ['eps', 'f32'],
  ['upRow', 'u32'],
  ['parts4', 'u32'],
] as const);

/** One decode GEMV's params: what its driver reads (the rest is written as 0). */
export interface GemvParams {
  k: number;
  rows: number;
  yOffset?: number;
  accumulate?: boolean;
  eps?: number;
  upRow?: number;
  /** Partial sums of squares handed over (PRESCALED); read as ceil(parts / 4) vec4s. */
  parts?: number;
}

/** How one decode GEMV differs from the others. */
export interface GemvDriver {
  /** Prefix of its errors. */
  name: string;
  /** Its pipeline is labelled `${label}.${format}`. */
  label: string;
  /** The WGSL after gemv_common.wgsl, and what follows the reduction. */
  code: string;
  tail?: string;
  defaultRows: number;
  maxRows: number;
  /** Rows of the reduction (the shader's ROWS) for r output rows per workgroup. */
  reduceRows: (r: number) => number;
  /** Workgroup memory the driver declares besides the reduction's, in f32s. */
  workgroupFloats?: number;
  /** Its bindings from 5 on. */
  extra?: GPUBufferBindingType[];
  constants?: Record<string, number>;
}

export class DecodeGemv {
  readonly workgroupSize: number;
  readonly rowsPerWorkgroup: number;
  readonly subgroups: boolean;
  readonly f16: boolean;
  protected readonly name: string;
  protected readonly kernel: WeightKernel;

  protected constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    opts: GemvOptions,
    driver: GemvDriver,
  ) {
    const name = (this.name = driver.name);
    const wg = (this.workgroupSize = opts.workgroupSize ?? 64);
    const rows = (this.rowsPerWorkgroup = opts.rowsPerWorkgroup ?? driver.defaultRows);
    this.subgroups = opts.subgroups ?? device.features.has('subgroups');
    const f16 = (this.f16 = opts.f16 ?? false);
    if (f16 && !device.features.has('shader-f16')) throw new Error(`${name}: f16 math needs the shader-f16 feature, which this device lacks`);
    if (f16 && !hasF16Decoder(format)) throw new Error(`${name}: ${format} weights have no f16-math decoder`);
    if (wg & (wg - 1) || wg < 1 || wg > device.limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`${name}: workgroup size ${wg} is not a power of two within the device limit`);
    }
    if (!(Number.isInteger(rows) && rows >= 1 && rows <= driver.maxRows)) throw new Error(`${name}: rows per workgroup ${rows} outside 1..${driver.maxRows}`);
    if (rows > wg) throw new Error(`${name}: ${rows} rows per workgroup need at least as many threads (got ${wg})`);
    const reduceRows = driver.reduceRows(rows);
    // gemv_common.wgsl's red[ROWS * WG] plus the driver's own
    const shared = 4 * (reduceRows * wg + (driver.workgroupFloats ?? 0));
    if (shared > device.limits.maxComputeWorkgroupStorageSize) {
      throw new Error(`${name}: ${reduceRows} rows x ${wg} threads need ${shared} B of workgroup memory, over the device limit`);
    }
    if (this.subgroups && !device.features.has('subgroups')) throw new Error(`${name}: the device lacks the subgroups feature`);
    const tail = `${this.subgroups ? reduceSubgroup : reduceTree}\n${driver.tail ?? ''}`;
    this.kernel = new WeightKernel(device, format, {
      label: `${driver.label}.${format}${f16 ? '.f16' : ''}`,
      code: weightShader(format, `${linearBindings}\n${gemvCommon}\n${driver.code}`, { subgroups: this.subgroups, tail, f16 }),
      constants: { WG: wg, ROWS: reduceRows, ...driver.constants },
      extra: driver.extra,
    });
  }

  /** The uniform buffer of one weight (part); made once at load. */
  protected createUniform(p: GemvParams): GPUBuffer {
    return createUniform(this.device, gemvUniforms, `${this.kernel.label}.params`, {
      k: p.k,
      rows: p.rows,
      yOffset: p.yOffset ?? 0,
      accumulate: p.accumulate ? 1 : 0,
      eps: p.eps ?? 0,
      upRow: p.upRow ?? 0,
      parts4: p.parts === undefined ? 0 : Math.ceil(p.parts / 4),
    });
  }

  /** A PRESCALED kernel's params must say how many partial sums it reads. */
  protected checkParts(parts: number | undefined): void {
    if (!(Number.isInteger(parts) && parts! >= 1)) throw new Error(`${this.name}: a prescaled kernel needs the number of partial sums (parts)`);
  }

  /** Checks a vector of the weight's row length k (x, g: f32 [k]). */
  protected checkVector(what: string, buf: GPUBuffer, k: number): void {
    if (buf.size < 4 * k) throw new RangeError(`${this.name}: ${what} has ${buf.size} B, needs ${4 * k} (k = ${k})`);
  }

  workgroups(rows: number): number {
    const n = Math.ceil(rows / this.rowsPerWorkgroup);
    if (n > this.device.limits.maxComputeWorkgroupsPerDimension) throw new RangeError(`${this.name}: ${rows} rows need ${n} workgroups, over the device limit`);
    return n;
  }

  /** The dispatch over `rows` outputs (swiglu_matvec: ffn). */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number): void {
    this.kernel.dispatch(pass, bindGroup, this.workgroups(rows));
  }

  /** weight, x (binding 2), y (3), params (4), then the driver's own from 5. */
  protected group(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, params: GPUBuffer, ...extra: GPUBuffer[]): GPUBindGroup {
    return this.kernel.bindWeight(w, x, y, params, ...extra);
  }

  /** The fused-norm kernels' (gemv_norm.wgsl): x checked against k, g (or the partial sums) at binding 5. */
  protected normGroup(w: GpuWeight, x: GPUBuffer, g: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    this.checkVector('x', x, w.k);
    return this.group(w, x, y, params, g);
  }
}
