/**
 * What the decode GEMVs (matvec.ts, norm-matvec.ts, swiglu-matvec.ts) share: their shape options
 * and the checks on them, their module (weight decoder + shaders/linear_bindings.wgsl +
 * gemv_common.wgsl + driver + reduction), their uniform (gemv_common.wgsl's Params), bindings
 * and dispatch. Each kernel
 * class says what its driver is (GemvDriver) and what its binding methods take.
 *
 * Two shapes of every driver: the whole workgroup strides over each of its rows and reduces
 * across the workgroup (the default, lanesPerRow = workgroupSize), or row groups
 * (lanesPerRow < workgroupSize, shaders/gemv_groups.wgsl) that own a few rows each and reduce
 * within the group, for GPUs with wide subgroups and many cores. Either shape of matvec may also
 * be split-K (splitK): several workgroups per row block, each over a run of the row's chunks,
 * adding their sums to y atomically (shaders/matvec_store_split.wgsl).
 */
import gemvCommon from '../../shaders/gemv_common.wgsl?raw';
import gemvGroups from '../../shaders/gemv_groups.wgsl?raw';
import gemvInput from '../../shaders/gemv_input.wgsl?raw';
import gemvStoreY from '../../shaders/gemv_store_y.wgsl?raw';
import linearBindings from '../../shaders/linear_bindings.wgsl?raw';
import reduceGroupSubgroup from '../../shaders/reduce_group_subgroup.wgsl?raw';
import reduceGroupTree from '../../shaders/reduce_group_tree.wgsl?raw';
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
   * Lanes per row group: a power of two dividing workgroupSize (default workgroupSize: one group,
   * the whole workgroup on every row). Below it the workgroup is workgroupSize / lanesPerRow row
   * groups of rowsPerWorkgroup / (workgroupSize / lanesPerRow) consecutive rows each:
   * rowsPerWorkgroup must be a multiple of the group count (a group's rows are then at most its
   * lanes, as rowsPerWorkgroup <= workgroupSize: lane r stores row r).
   * With subgroups, lanesPerRow must be at most the adapter's smallest subgroup size.
   */
  lanesPerRow?: number;
  /**
   * f16 math inside each chunk (shaders/quant_f16.wgsl): activations and quants in f16, products
   * and per-run sums in f16, everything across runs and chunks in f32. Needs the device's
   * `shader-f16` and a format with an f16 decoder (hasF16Decoder). Default false.
   */
  f16?: boolean;
  /**
   * Split-K: S = 2, 4 or 8 workgroups per block of rows, workgroup s summing the s-th run of
   * ceil(chunks / S) consecutive chunks of each row and adding its sums to y with an atomic
   * compare-and-swap (shaders/matvec_store_split.wgsl): S times the workgroups, in one dispatch.
   * matvec only, and only where y is added to (params made with accumulate: the residual
   * projections), with no normOut hand-off (no workgroup sees a row's final value). The order of
   * the S adds is the hardware's: the last bits of y may differ between runs. Default 1 (off).
   */
  splitK?: number;
}

/** The split-K factors a matvec accepts (GemvOptions.splitK; 1 is off). */
export const SPLIT_K_FACTORS: readonly number[] = [1, 2, 4, 8];

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

/** A decode GEMV's shape limits: what its constructor and gemvVariantValid check. */
export interface GemvLimits {
  /** Prefix of its errors. */
  name: string;
  defaultRows: number;
  maxRows: number;
  /**
   * Rows of the reduction (the shader's ROWS) for r output rows per workgroup; in row groups,
   * the accumulators per lane (NACC) for r output rows per group.
   */
  reduceRows: (r: number) => number;
  /** Workgroup memory the driver declares besides the reduction's, in f32s. */
  workgroupFloats?: number;
  /** Why this kernel cannot be split-K (GemvOptions.splitK); absent where it can. */
  noSplit?: string;
}

/** How one decode GEMV differs from the others. */
export interface GemvDriver extends GemvLimits {
  /** Its pipeline is labelled `${label}.${format}`. */
  label: string;
  /** The WGSL after gemv_common.wgsl (and its row-group form), and what follows the reduction. */
  code: string;
  grouped: string;
  tail?: string;
  /** What follows the reduction in split-K (where noSplit is absent). */
  splitTail?: string;
  /** Its bindings from 5 on. */
  extra?: GPUBufferBindingType[];
  /**
   * The module's bindings 0..4 and its `gemv_input` (the matvec drivers call it before reading x);
   * default linear_bindings.wgsl + gemv_input.wgsl (x the bound storage vector).
   */
  bindings?: string;
  constants?: Record<string, number>;
}

/**
 * linear_bindings.wgsl's declaration of y, and the one that replaces it in a split-K module: the
 * same binding and bits, as atomics for matvec_store_split.wgsl's compare-and-swap.
 */
const Y_F32 = 'var<storage, read_write> y: array<f32>;';
const Y_ATOMIC = 'var<storage, read_write> y: array<atomic<u32>>;';

/** The limits of each decode GEMV (src/kernels/matvec.ts, norm-matvec.ts, swiglu-matvec.ts). */
export const GEMV_LIMITS = {
  /** mergeFloats: the attention merge's workgroup memory (matvec.ts attentionMergeFloats), in f32s. */
  matvec: (normOut = false, mergeFloats = 0): GemvLimits => ({
    name: 'matvec',
    defaultRows: 16,
    // shaders/matvec.wgsl MAX_ROWS
    maxRows: 32,
    reduceRows: (r) => r,
    // matvec_store_norm.wgsl's squares[MAX_ROWS], matvec_merge.wgsl's x and head_scale
    workgroupFloats: (normOut ? 32 : 0) + mergeFloats,
    noSplit: normOut ? 'a normOut matvec hands its rows on to the next norm, and no split-K workgroup sees a whole row' : undefined,
  }),
  normMatvec: (): GemvLimits => ({
    name: 'norm_matvec',
    defaultRows: 16,
    // shaders/norm_matvec.wgsl MAX_ROWS - 1
    maxRows: 32,
    // the output rows, then the sum of squares
    reduceRows: (r) => r + 1,
    noSplit: 'split-K is a matvec variant (it adds to an output, as the residual projections do)',
  }),
  swigluMatvec: (): GemvLimits => ({
    name: 'swiglu_matvec',
    defaultRows: 8,
    // (shaders/swiglu_matvec.wgsl MAX_ROWS - 1) / 2
    maxRows: 16,
    // gate rows, up rows, then the sum of squares
    reduceRows: (r) => 2 * r + 1,
    noSplit: 'split-K is a matvec variant (it adds to an output, as the residual projections do)',
  }),
};

/** The adapter's subgroup sizes, where the device says (`device.adapterInfo`). */
function subgroupSizes(device: GPUDevice): { min?: number; max?: number } {
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: unknown; subgroupMaxSize?: unknown } }).adapterInfo;
  const size = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return { min: size(info?.subgroupMinSize), max: size(info?.subgroupMaxSize) };
}

/** A shape resolved against its defaults (what the constructor builds). */
interface ResolvedShape {
  wg: number;
  rows: number;
  lanes: number;
  subgroups: boolean;
  split: number;
}

function resolveShape(device: GPUDevice, limits: GemvLimits, opts: GemvOptions): ResolvedShape {
  const wg = opts.workgroupSize ?? 64;
  return {
    wg,
    rows: opts.rowsPerWorkgroup ?? limits.defaultRows,
    lanes: opts.lanesPerRow ?? wg,
    subgroups: opts.subgroups ?? device.features.has('subgroups'),
    split: opts.splitK ?? 1,
  };
}

function shapeError(device: GPUDevice, limits: GemvLimits, { wg, rows, lanes, subgroups, split }: ResolvedShape): string | null {
  const name = limits.name;
  if (!SPLIT_K_FACTORS.includes(split)) return `${name}: split-K factor ${split} is not one of ${SPLIT_K_FACTORS.join(', ')}`;
  if (split > 1 && limits.noSplit) return `${name}: no split-K: ${limits.noSplit}`;
  if (wg & (wg - 1) || wg < 1 || wg > device.limits.maxComputeInvocationsPerWorkgroup) {
    return `${name}: workgroup size ${wg} is not a power of two within the device limit`;
  }
  if (!(Number.isInteger(rows) && rows >= 1 && rows <= limits.maxRows)) return `${name}: rows per workgroup ${rows} outside 1..${limits.maxRows}`;
  if (rows > wg) return `${name}: ${rows} rows per workgroup need at least as many threads (got ${wg})`;
  let shared: number;
  if (lanes === wg) {
    const reduceRows = limits.reduceRows(rows);
    // gemv_common.wgsl's red[ROWS * WG] plus the driver's own
    shared = 4 * (reduceRows * wg + (limits.workgroupFloats ?? 0));
    if (shared > device.limits.maxComputeWorkgroupStorageSize) return `${name}: ${reduceRows} rows x ${wg} threads need ${shared} B of workgroup memory, over the device limit`;
  } else {
    if (!(Number.isInteger(lanes) && lanes >= 1 && lanes < wg && !(lanes & (lanes - 1)))) return `${name}: lanes per row ${lanes} is not a power of two dividing the workgroup size ${wg}`;
    const groups = wg / lanes;
    if (rows % groups !== 0) return `${name}: ${rows} rows per workgroup do not split evenly over its ${groups} row groups of ${lanes} lanes`;
    // reduce_group_tree.wgsl's gred[NACC * WG] (none with subgroups) plus the driver's own
    shared = 4 * ((subgroups ? 0 : limits.reduceRows(rows / groups) * wg) + (limits.workgroupFloats ?? 0));
    if (shared > device.limits.maxComputeWorkgroupStorageSize) return `${name}: ${groups} row groups of ${lanes} lanes need ${shared} B of workgroup memory, over the device limit`;
    // WebGPU allows subgroups as narrow as 4 where the adapter does not say
    const min = subgroupSizes(device).min ?? 4;
    if (subgroups && device.features.has('subgroups') && lanes > min) return `${name}: ${lanes} lanes per row group, but this adapter's subgroups may have as few as ${min} (a group must lie in one subgroup)`;
  }
  if (subgroups && !device.features.has('subgroups')) return `${name}: the device lacks the subgroups feature`;
  return null;
}

/**
 * Null if `kernel` (with these options) can run on this device, else why not: the constructor's
 * checks, without building anything.
 */
export function gemvVariantValid(
  device: GPUDevice,
  kernel: keyof typeof GEMV_LIMITS,
  opts: GemvOptions & { normOut?: boolean; mergeFloats?: number },
): string | null {
  const limits = GEMV_LIMITS[kernel](opts.normOut, opts.mergeFloats);
  return shapeError(device, limits, resolveShape(device, limits, opts));
}

export class DecodeGemv {
  readonly workgroupSize: number;
  readonly rowsPerWorkgroup: number;
  readonly subgroups: boolean;
  /** Lanes per row group; workgroupSize: the whole workgroup on every row. */
  readonly lanesPerRow: number;
  readonly f16: boolean;
  /** Workgroups per block of rows (split-K); 1: one over each row's whole length. */
  readonly splitK: number;
  protected readonly name: string;
  protected readonly kernel: WeightKernel;

  protected constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    opts: GemvOptions,
    driver: GemvDriver,
  ) {
    this.name = driver.name;
    const shape = resolveShape(device, driver, opts);
    const error = shapeError(device, driver, shape);
    if (error) throw new Error(error);
    const { wg, rows, lanes } = shape;
    this.workgroupSize = wg;
    this.rowsPerWorkgroup = rows;
    this.lanesPerRow = lanes;
    this.subgroups = shape.subgroups;
    const split = (this.splitK = shape.split);
    const f16 = (this.f16 = opts.f16 ?? false);
    if (f16 && !device.features.has('shader-f16')) throw new Error(`${this.name}: f16 math needs the shader-f16 feature, which this device lacks`);
    if (f16 && !hasF16Decoder(format)) throw new Error(`${this.name}: ${format} weights have no f16-math decoder`);
    let code = driver.code;
    let reduce = this.subgroups ? reduceSubgroup : reduceTree;
    let label = driver.label;
    // the workgroup's reduction rows; in row groups the store's rows per workgroup
    let rowsConstant = driver.reduceRows(rows);
    if (lanes < wg) {
      const groupRows = rows / (wg / lanes);
      // subgroupAdd only where every subgroup is exactly one row group
      const { min, max } = subgroupSizes(device);
      const sgAdd = min === lanes && max === lanes;
      const consts = `const LANES: u32 = ${lanes}u;\nconst GROUP_ROWS: u32 = ${groupRows}u;\nconst NACC: u32 = ${driver.reduceRows(groupRows)}u;\nconst SG_ADD = ${sgAdd};\n`;
      code = `${consts}${gemvGroups}\n${driver.grouped}`;
      reduce = this.subgroups ? reduceGroupSubgroup : reduceGroupTree;
      label = `${label}.lanes${lanes}`;
      rowsConstant = rows;
    }
    // split-K: y as atomics (the same f32 bits) and the store that adds to it; else the plain store
    let bindings = driver.bindings ?? `${linearBindings}\n${gemvInput}`;
    let store = gemvStoreY;
    let tail = driver.tail ?? '';
    if (split > 1) {
      if (!bindings.includes(Y_F32)) throw new Error(`${this.name}: its bindings (shaders/linear_bindings.wgsl or the driver's) no longer declare y as \`${Y_F32}\``);
      bindings = bindings.replace(Y_F32, Y_ATOMIC);
      if (!driver.splitTail) throw new Error(`${this.name}: its driver has no split-K store`);
      store = '';
      tail = driver.splitTail;
      label = `${label}.split${split}`;
    }
    this.kernel = new WeightKernel(device, format, {
      label: `${label}.${format}${f16 ? '.f16' : ''}`,
      code: weightShader(format, `${bindings}\n${gemvCommon}\n${store}\n${code}`, { subgroups: this.subgroups, tail: `${reduce}\n${tail}`, f16 }),
      constants: { WG: wg, ROWS: rowsConstant, ...(split > 1 ? { SPLIT: split } : {}), ...driver.constants },
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

  /** The dispatch over `rows` outputs (swiglu_matvec: ffn); split-K: splitK workgroups per block. */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number): void {
    this.kernel.dispatch(pass, bindGroup, this.workgroups(rows), this.splitK);
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
