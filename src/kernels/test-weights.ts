/**
 * Test support for the weight kernels (matvec, norm_matvec, swiglu_matvec, matmul, embed): random
 * weights quantized with our llama.cpp-exact codecs, repacked, uploaded; one-off runs of a
 * kernel; and what the CPU side needs to judge the GPU results: the dequantized f32 matrix and a
 * rigorous f32 rounding-error bound.
 */
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { GgmlType, QUANT_INFO, dequantize, quantize } from '../model/quant/index.ts';
import { repack, repackRows } from '../model/repack.ts';
import type { RepackedTensor } from '../model/repack.ts';
import { WEIGHT_FORMATS, formatInfo, isWeightFormat, uploadWeight } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';
import type { GemvOptions } from './gemv.ts';
import type { Rng } from '../util/rng.ts';

/** Every format the kernels read (weight-formats.ts's table), as its GGML type: a format added there is tested everywhere. */
export const ALL_TYPES: GgmlType[] = WEIGHT_FORMATS.map((f) => GgmlType[f]);

export function formatOf(type: GgmlType): WeightFormat {
  const name = QUANT_INFO[type]?.name ?? '';
  if (!isWeightFormat(name)) throw new Error(`no kernel format for type ${type}`);
  return name;
}

/** Smallest legal row length of the kernels for a type (the block, or 8 for float types). */
export function kStep(type: GgmlType): number {
  return formatInfo(formatOf(type)).kMultiple;
}

export interface TestWeight {
  type: GgmlType;
  rows: number;
  k: number;
  /** GGUF bytes. */
  raw: Uint8Array;
  /** dequantize(raw): exactly the values llama.cpp computes. */
  w: Float32Array;
  /**
   * Per element, the constant part of its block's formula: the value the element would have with
   * all its quant bits zero (-dmin*m for Q4_K/Q5_K, -8d for Q4_0, -32*d*sc for Q6_K, 0 otherwise).
   * The GPU sums q*x and that offset times x separately, so both enter the error bound.
   */
  off: Float32Array;
}

/** Zeroes the quant bits of every block, keeping d, dmin and the scales. */
function zeroQuants(type: GgmlType, raw: Uint8Array): Uint8Array {
  const out = raw.slice();
  // [start, end) of the quant bits within a block, and the block size
  const spans: Partial<Record<GgmlType, [number, number, number]>> = {
    [GgmlType.Q4_0]: [2, 18, 18],
    [GgmlType.Q8_0]: [2, 34, 34],
    [GgmlType.Q4_K]: [16, 144, 144],
    [GgmlType.Q5_K]: [16, 176, 176],
    [GgmlType.Q6_K]: [0, 192, 210],
  };
  const span = spans[type];
  if (!span) return out.fill(0);
  const [a, b, size] = span;
  for (let o = 0; o < out.length; o += size) out.fill(0, o + a, o + b);
  return out;
}

/**
 * Random rows x k weights of `type`: values uniform in [-1, 1) plus a per-row shift, so that
 * the K-quant mins and the scales differ from row to row.
 */
export function makeWeight(type: GgmlType, rows: number, k: number, rng: Rng): TestWeight {
  const x = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const shift = rng.uniform(-0.5, 0.5);
    const scale = rng.uniform(0.2, 2);
    for (let i = 0; i < k; i++) x[r * k + i] = scale * (rng.uniform(-1, 1) + shift);
  }
  const raw = quantize(type, x);
  return { type, rows, k, raw, w: dequantize(type, raw, rows * k), off: dequantize(type, zeroQuants(type, raw), rows * k) };
}

/** One kernel per weight type and options, made on first use (a pipeline costs ~1 s of JIT on a CPU driver). */
export function kernelCache<O, K>(make: (type: GgmlType, opts: O) => K): (type: GgmlType, opts?: O) => K {
  const made = new Map<string, K>();
  return (type, opts = {} as O) => {
    const key = `${type}:${JSON.stringify(opts)}`;
    let k = made.get(key);
    if (!k) made.set(key, (k = make(type, opts)));
    return k;
  };
}

/** A weight tensor's row-range part and the output row its rows start at. */
export interface WeightPart {
  weight: GpuWeight;
  rowOffset: number;
}

/**
 * One submit for a test, not for the hot path: uploads `inputs` and the output's initial value
 * `init`, encodes in one pass what `encode` dispatches over them (it returns the params buffers
 * it made), reads the output back and destroys every buffer.
 */
export async function runOnce(
  device: GPUDevice,
  inputs: readonly (Float32Array | Uint32Array)[],
  init: Float32Array,
  encode: (pass: GPUComputePassEncoder, inputs: GPUBuffer[], out: GPUBuffer) => GPUBuffer[],
): Promise<Float32Array> {
  const ins = inputs.map((data, i) => uploadStorage(device, data, `input ${i}`));
  const out = uploadStorage(device, init, 'output');
  const enc = device.createCommandEncoder({ label: 'test.once' });
  const pass = enc.beginComputePass();
  const params = encode(pass, ins, out);
  pass.end();
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, out, init.byteLength));
  for (const b of [...ins, out, ...params]) b.destroy();
  return got;
}

export function uploadRepacked(device: GPUDevice, t: RepackedTensor): GpuWeight {
  return uploadWeight(device, formatOf(t.type), t.k, t.rows, t.blocks, t.scales);
}

/** The whole tensor as one GPU weight. */
export function uploadTestWeight(device: GPUDevice, tw: TestWeight): GpuWeight {
  return uploadRepacked(device, repack(tw.type, tw.k, tw.raw));
}

/** The tensor as GPU weight parts split at the given row boundaries (e.g. [0, 5, 9, rows]). */
export function uploadTestWeightParts(device: GPUDevice, tw: TestWeight, cuts: number[]): WeightPart[] {
  const out = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    out.push({ weight: uploadRepacked(device, repackRows(tw.type, tw.k, tw.raw, cuts[i], cuts[i + 1] - cuts[i])), rowOffset: cuts[i] });
  }
  return out;
}

export const U = 2 ** -24;

/**
 * Rounding-error bound of the kernels' f32 dot products, per output:
 *   |gpu - exact| <= depth * u * sum_i (|w_i| + 2 |off_i|) |x_i|  +  2 u |exact|,   u = 2^-24,
 * to first order. Every term passes through at most `depth` roundings on its way to the output,
 * and the kernels sum the q*x and offset*x parts separately (|q part| <= |w| + |off| per element,
 * plus |off| for the offset part). The last term covers the final rounding to f32 and the add
 * to y0 in the accumulate mode. The f64 reference adds nothing measurable.
 */
export function errorBounds(tw: TestWeight, x: Float32Array, depth: number, ref: ArrayLike<number>, m = 1): Float64Array {
  const { rows, k, w, off } = tw;
  const out = new Float64Array(m * rows);
  for (let t = 0; t < m; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += (Math.abs(w[r * k + i]) + 2 * Math.abs(off[r * k + i])) * Math.abs(x[t * k + i]);
      out[t * rows + r] = depth * U * s + 2 * U * Math.abs(ref[t * rows + r]);
    }
  }
  return out;
}

/**
 * Longest rounding path inside one chunk's partial sum, for every format (chunk_dot in
 * shaders/weights_*.wgsl): a per-lane chain of <= 4 products and adds, a 4-lane horizontal sum,
 * the scalings by d*sc and the offset term: <= 12, taken as 16.
 */
const CHUNK_DEPTH = 16;

/** Depth for matvec.wgsl: a chunk, one add per chunk a thread owns, then the reduction. */
export function matvecDepth(
  type: GgmlType,
  k: number,
  workgroupSize: number,
  subgroups: { min: number; max: number } | null,
): number {
  const perThread = Math.ceil(k / formatInfo(formatOf(type)).chunk / workgroupSize);
  // tree: log2(WG) levels; subgroups: subgroupAdd (taken as sequential over the subgroup, the
  // worst any driver may do) then the per-subgroup sums added in sequence.
  const reduce = subgroups ? subgroups.max - 1 + Math.ceil(workgroupSize / subgroups.min) : Math.log2(workgroupSize);
  return CHUNK_DEPTH + perThread + reduce;
}

/**
 * Split-K (GemvOptions.splitK = S, matvec_store_split.wgsl): workgroup s sums a run of
 * ceil(chunks / S) chunks as matvec.wgsl sums a whole row (matvecDepth over the run), and the S
 * runs' sums r_s are added to y one by one, in any order: y = (..(y0 + r_a) + ..) + r_z. Each add
 * rounds the running value t_j, |t_j| <= |y0| + sum_s |r_s|, and sum_s |r_s| <= the magnitude sum
 * that errorBounds scales by the depth; so a run's sum passes through at most S more roundings
 * (depth + S) and y0 through S of them, which errorBounds' 2 u |ref| does not cover when |y0| is
 * large against the result: splitKY0Bound adds S u |y0|. For S = 1 this is matvecDepth.
 */
export function splitKDepth(type: GgmlType, k: number, lanes: number, subgroups: { min: number; max: number } | null, split: number): number {
  if (split === 1) return matvecDepth(type, k, lanes, subgroups);
  const chunk = formatInfo(formatOf(type)).chunk;
  return matvecDepth(type, chunk * Math.ceil(k / chunk / split), lanes, subgroups) + split;
}

/** The bound with split-K's S u |y0| added (splitKDepth); unchanged for S = 1. */
export function splitKY0Bound(bound: Float64Array, y0: ArrayLike<number> | undefined, split: number): Float64Array {
  if (split === 1 || !y0) return bound;
  return bound.map((b, i) => b + split * U * Math.abs(y0[i]));
}

/**
 * Depth for matmul.wgsl: the exact dequantized weights dotted per vec4 (4), summed over a
 * 64-element k tile (16), then one add per tile.
 */
export function matmulDepth(k: number): number {
  return 4 + 16 + Math.ceil(k / 64) + 4;
}

/** silu in f64. */
export const silu = (v: number): number => v / (1 + Math.exp(-v));

/**
 * Bound on a swiglu_matvec output silu(a) b, given bounds ea and eb on a and b and the exact
 * h = silu(a) b: |silu'| <= 1.1, so
 *   1.1 ea |b| + |silu(a)| eb + 1.1 ea eb + (8 + 2|a|) u |h|
 * (silu: WGSL exp's 3 + 2|a| ulp, the sigmoid's add and divide, two products).
 */
export function swigluBound(a: number, b: number, ea: number, eb: number, h: number): number {
  return 1.1 * ea * Math.abs(b) + Math.abs(silu(a)) * eb + 1.1 * ea * eb + (8 + 2 * Math.abs(a)) * U * Math.abs(h);
}

export interface BoundReport {
  ok: boolean;
  /** max over elements of |got - ref| / bound: how much of the bound was used. */
  worstRatio: number;
  bad: number;
  first: string[];
}

/** |got - ref| <= bound (+ a denormal-sized floor) elementwise. */
export function checkBounds(got: ArrayLike<number>, ref: ArrayLike<number>, bound: ArrayLike<number>): BoundReport {
  let worstRatio = 0;
  let bad = 0;
  const first: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i] - ref[i]);
    const b = bound[i] + 1e-30;
    const ratio = err / b;
    if (!(ratio <= 1)) {
      bad++;
      if (first.length < 6) first.push(`${i}: ${got[i]} vs ${ref[i]} (bound ${bound[i].toExponential(2)})`);
    }
    if (ratio > worstRatio || Number.isNaN(ratio)) worstRatio = ratio;
  }
  return { ok: bad === 0 && got.length === ref.length, worstRatio, bad, first };
}

export function describeBounds(r: BoundReport): string {
  return r.ok ? `ok, worst err/bound ${r.worstRatio.toExponential(2)}` : `${r.bad} out of bound (worst ${r.worstRatio.toExponential(2)}): ${r.first.join('; ')}`;
}

/**
 * Row-group shapes (GemvOptions.lanesPerRow) for the decode GEMV tests. The real-GPU targets,
 * reduced by the workgroup-memory tree (their 16- and 32-lane groups are wider than the
 * emulators' subgroups): 128 threads x 32 lanes x 4 rows, 256 x 32 x 8, 64 x 32 x 2, 64 x 16 x 4,
 * and two rows per group (128 x 32 x 8). Where the device has subgroups (`subgroupMin`: the
 * adapter's smallest), two more: a group exactly one subgroup wide (subgroupAdd where the size is
 * fixed) with two rows per group, and groups half a subgroup wide (the shuffle butterfly).
 * Every shape has at most 16 rows per workgroup (swiglu_matvec's bound).
 */
export function rowGroupShapes(subgroupMin: number | null): GemvOptions[] {
  const shapes: GemvOptions[] = [
    { workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 4, subgroups: false },
    { workgroupSize: 256, lanesPerRow: 32, rowsPerWorkgroup: 8, subgroups: false },
    { workgroupSize: 64, lanesPerRow: 32, rowsPerWorkgroup: 2, subgroups: false },
    { workgroupSize: 64, lanesPerRow: 16, rowsPerWorkgroup: 4, subgroups: false },
    { workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 8, subgroups: false },
  ];
  if (subgroupMin !== null) {
    const whole = subgroupMin;
    const half = subgroupMin / 2;
    shapes.push({ workgroupSize: 32, lanesPerRow: whole, rowsPerWorkgroup: (2 * 32) / whole, subgroups: true });
    shapes.push({ workgroupSize: 32, lanesPerRow: half, rowsPerWorkgroup: 32 / half, subgroups: true });
  }
  return shapes;
}

/**
 * The row-group shapes one format runs: all of them for Q4_K, else one tree shape and one
 * subgroup shape, rotating with the format's place in the table, so every shape meets several
 * formats (each new pipeline costs seconds of JIT on a CPU driver).
 */
export function rowGroupShapesFor(type: GgmlType, subgroupMin: number | null): GemvOptions[] {
  const shapes = rowGroupShapes(subgroupMin);
  if (type === GgmlType.Q4_K) return shapes;
  const i = ALL_TYPES.indexOf(type);
  const tree = shapes.filter((o) => !o.subgroups);
  const sub = shapes.filter((o) => o.subgroups);
  return [tree[i % tree.length], ...(sub.length ? [sub[i % sub.length]] : [])];
}
