/**
 * The decode GEMVs with f16 math (GemvOptions.f16: shaders/quant_f16.wgsl and the
 * weights_<type>_f16.wgsl decoders) against the CPU references, for every format with an f16
 * decoder and all three drivers (matvec, also normOut; norm_matvec; swiglu_matvec, with and
 * without the norm; the PRESCALED readers of a normOut writer). Where the device lacks
 * `shader-f16` (SwiftShader) the kernels must refuse the option, and the GPU comparisons are
 * skipped: they cannot run there.
 *
 * Tolerance: the f32 kernels' bound (errorBounds with their depth, test-weights.ts), which covers
 * every f32 rounding after a run's f16 sum is widened, plus the f16 part, derived here.
 * u = 2^-11 (f16's 11-bit significand, round to nearest), eta = 2^-14 (f16's smallest normal:
 * the most a value in the subnormal range can lose, flushed to zero or not).
 * Per chunk the kernel scales the activations x_i by 2^-e (exact), with 2^e <= 2 M (M = the
 * chunk's largest |x_i|), and for element i with f16-exact factor a_i (the quant integer q, q - 8,
 * q - 32 or signed q; F16: the weight itself) and f32 scale s_i (d, d*sc; F16: 1):
 *   x rounded to f16:      |a_i| (u |x_i 2^-e| + eta)
 *   a_i * x rounded:       u |a_i x_i 2^-e| + eta
 *   the run's f16 sum:     at most A = 3 additions on any product's path: A u |a_i x_i 2^-e|
 *                          (+ eta per addition where subnormals flush; additions <= products)
 * and the result is multiplied back by s_i 2^e in f32. So, to first order, per output
 *   sum_i (2 + A) u |s_i a_i| |x_i|  +  2 M_c(i) eta (|s_i a_i| + 2 |s_i|).
 * For the integer formats |s_i| <= |s_i a_i| wherever a_i != 0 and a product with a_i = 0 is an
 * exact 0, so the eta term is at most 6 M eta |s_i a_i|; for F16, 2 M eta (|w_i| + 2).
 * |s_i a_i| is |w_i| where the offset is folded into the integer (Q4_0, Q6_K, Q8_0, F16) and
 * |w_i - off_i| for Q4_K / Q5_K (their min term is summed in f32 apart).
 * With x uniform in [-1, 1] that is about 5 * 2^-11 ~ 2.4e-3 of sum |w||x|: a flipped nibble bit
 * at k = 256 moves an output by far more (the last tests), and the f32 kernels' bounds are ~1e3
 * times tighter, so the f16 results are expected to exceed those (checked: the path is really f16).
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { MatvecKernel, type MatvecOptions } from './matvec.ts';
import { matvecRef } from './matvec.ref.ts';
import { NormMatvecKernel, type NormMatvecOptions } from './norm-matvec.ts';
import { rmsnormRef } from './rmsnorm.ref.ts';
import { siluMulRef } from './silu_mul.ref.ts';
import { SwigluMatvecKernel, type SwigluMatvecOptions } from './swiglu-matvec.ts';
import { WEIGHT_FORMATS, destroyWeight, formatInfo, hasF16Decoder, weightShader, type WeightFormat } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import { repack } from '../model/repack.ts';
import { Rng } from '../util/rng.ts';
import { normDepth, prescaledNormDepth } from './test-norm.ts';
import {
  U, checkBounds, describeBounds, errorBounds, formatOf, kStep, kernelCache, makeWeight, matvecDepth, runOnce, splitKDepth, splitKY0Bound, swigluBound, uploadRepacked,
  uploadTestWeight, uploadTestWeightParts,
} from './test-weights.ts';
import type { BoundReport, TestWeight, WeightPart } from './test-weights.ts';

const EPS = 1e-5;
const U16 = 2 ** -11;
const ETA16 = 2 ** -14;
/** f16 additions on a product's path inside a run (quant_f16.wgsl). */
const ADDS16 = 3;

const gpu = gpuForTests();

const F16_FORMATS: WeightFormat[] = ['F16', 'Q4_0', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];
const F16_TYPES = F16_FORMATS.map((f) => GgmlType[f]);

const isFloat = (t: GgmlType) => t === GgmlType.F16;

/**
 * The reductions, the no-norm swiglu and the drivers' code are shared by every format and were
 * checked for each by the f32 kernels' tests: the f16 variants run them on Q4_K only (each
 * pipeline costs seconds of JIT on a CPU driver).
 */
const TREE_TOO: GgmlType[] = [GgmlType.Q4_K];

/** Chunk of element i (the f16 decoders' chunk_vec, inverted). */
function chunkOf(type: GgmlType, i: number): number {
  if (type !== GgmlType.Q6_K) return Math.floor(i / formatInfo(formatOf(type)).chunk);
  const v = i >> 2;
  const o = v & 63;
  return (v >> 6) * 4 + (o >> 5) * 2 + ((o >> 2) & 1);
}

/**
 * The f16 part of the bound (see the top of this file), per output row, for activations x as
 * the reference uses them. For the norm kernels x is the normalized vector: the kernel's chunk
 * maximum is of x * g, which times inv_rms is xn's to a few f32 ulps (the 1.001).
 */
function f16Bounds(tw: TestWeight, x: Float32Array): Float64Array {
  const { rows, k, w, off, type } = tw;
  const nChunks = chunkOf(type, k - 1) + 1;
  const maxAbs = new Float64Array(nChunks);
  for (let i = 0; i < k; i++) maxAbs[chunkOf(type, i)] = Math.max(maxAbs[chunkOf(type, i)], Math.abs(x[i]));
  const kSplitMin = type === GgmlType.Q4_K || type === GgmlType.Q5_K;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < k; i++) {
      const qp = kSplitMin ? Math.abs(w[r * k + i] - off[r * k + i]) : Math.abs(w[r * k + i]);
      const m = 1.001 * maxAbs[chunkOf(type, i)];
      const eta = isFloat(type) ? 2 * m * ETA16 * (qp + 2) : 6 * m * ETA16 * qp;
      s += (2 + ADDS16) * U16 * qp * Math.abs(x[i]) + eta;
    }
    out[r] = s;
  }
  return out;
}

/** f32 bound plus f16 bound. */
function bounds(tw: TestWeight, x: Float32Array, depth: number, ref: ArrayLike<number>): Float64Array {
  const e32 = errorBounds(tw, x, depth, ref);
  const e16 = f16Bounds(tw, x);
  return e32.map((v, r) => v + e16[r]);
}

const sgOf = (subgroups: boolean) => (subgroups ? gpu.subgroupSizes : null);

/** Skips the GPU comparisons where the device lacks shader-f16 (the refusal tests cover it). */
function needF16(ctx: { skip: (note?: string) => void }): void {
  if (!gpu.device.features.has('shader-f16')) ctx.skip('the device lacks shader-f16: the f16 kernels cannot run here (refused, see the refusal tests)');
}

// ---------------------------------------------------------------- matvec

const matvec = kernelCache((type, opts: MatvecOptions) => new MatvecKernel(gpu.device, formatOf(type), { ...opts, f16: true }));

function runMatvec(kern: MatvecKernel, parts: readonly WeightPart[], x: Float32Array, yInit: Float32Array, accumulate = false): Promise<Float32Array> {
  return runOnce(gpu.device, [x], yInit, (pass, [xb], yb) =>
    parts.map(({ weight, rowOffset }) => {
      const params = kern.createParams(weight.k, weight.rows, rowOffset, accumulate);
      kern.encode(pass, kern.bind(weight, xb, yb, params), weight.rows);
      return params;
    }),
  );
}

/** Split-K (kern.splitK > 1) changes only the f32 part: its depth and the S u |y0| of splitKY0Bound. */
function judgeMatvec(kern: MatvecKernel, tw: TestWeight, x: Float32Array, got: Float32Array, y0?: Float32Array): BoundReport {
  const ref = matvecRef(tw.w, x, tw.rows, tw.k, y0);
  const depth = splitKDepth(tw.type, tw.k, kern.lanesPerRow, sgOf(kern.subgroups), kern.splitK);
  return checkBounds(got, ref, splitKY0Bound(bounds(tw, x, depth, ref), y0, kern.splitK));
}

async function checkMatvec(tw: TestWeight, x: Float32Array, opts: MatvecOptions = {}, cuts?: number[], y0?: Float32Array): Promise<number> {
  const kern = matvec(tw.type, opts);
  const parts = cuts ? uploadTestWeightParts(gpu.device, tw, cuts) : [{ weight: uploadTestWeight(gpu.device, tw), rowOffset: 0 }];
  const got = await runMatvec(kern, parts, x, y0 ?? new Float32Array(tw.rows).fill(NaN), y0 !== undefined);
  for (const p of parts) destroyWeight(p.weight);
  const report = judgeMatvec(kern, tw, x, got, y0);
  expect(report.ok, `matvec f16 ${formatOf(tw.type)} ${tw.rows}x${tw.k} ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

describe('matvec f16: every format with an f16 decoder vs the CPU reference', () => {
  it.for(F16_TYPES.map((t) => [formatOf(t), t] as const))('%s: random shapes, accumulate, row-split parts, both reductions', async ([name, type], ctx) => {
    needF16(ctx);
    const rng = new Rng(500 + type);
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      const rows = 4 * rng.int(0, 12) + rng.int(1, 3);
      const k = kStep(type) * rng.int(1, isFloat(type) ? 200 : 7);
      const tw = makeWeight(type, rows, k, rng);
      const x = rng.fill(k);
      worst = Math.max(worst, await checkMatvec(tw, x));
      if (gpu.hasSubgroups() && t === 0 && TREE_TOO.includes(type)) worst = Math.max(worst, await checkMatvec(tw, x, { subgroups: false }));
    }
    const k = kStep(type) * (isFloat(type) ? 40 : 3);
    const tw = makeWeight(type, 23, k, rng);
    worst = Math.max(worst, await checkMatvec(tw, rng.fill(k), {}, undefined, rng.fill(23, -10, 10)));
    worst = Math.max(worst, await checkMatvec(tw, rng.fill(k), {}, [0, 5, 6, 17, 23]));
    console.log(`matvec f16 ${name}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 row lengths (k = 3072, 8192) for Q4_K and Q6_K, other shapes', async (ctx) => {
    needF16(ctx);
    const rng = new Rng(51);
    for (const type of [GgmlType.Q4_K, GgmlType.Q6_K]) {
      for (const k of [3072, 8192]) await checkMatvec(makeWeight(type, 21, k, rng), rng.fill(k, -3, 3));
    }
    const tw = makeWeight(GgmlType.Q4_K, 37, 768, rng);
    // row groups (lanesPerRow) with f16 math: a workgroup-memory tree, and one subgroup-wide group where the adapter has subgroups
    const groups = [{ workgroupSize: 128, rowsPerWorkgroup: 8, lanesPerRow: 32, subgroups: false }];
    if (gpu.hasSubgroups()) groups.push({ workgroupSize: 4 * gpu.subgroupSizes.min, rowsPerWorkgroup: 8, lanesPerRow: gpu.subgroupSizes.min, subgroups: true });
    for (const o of [{ workgroupSize: 128, rowsPerWorkgroup: 3 }, { workgroupSize: 8, rowsPerWorkgroup: 8 }, ...groups]) {
      await checkMatvec(tw, rng.fill(768), o);
    }
    // split-K (adds to y only): Wo's row length in 4 runs, and row groups in 2
    await checkMatvec(makeWeight(GgmlType.Q4_K, 21, 3072, rng), rng.fill(3072, -3, 3), { splitK: 4 }, undefined, rng.fill(21, -10, 10));
    await checkMatvec(tw, rng.fill(768), { ...groups[0], splitK: 2 }, [0, 16, 37], rng.fill(37, -10, 10));
  });

  it('activations far from 1 (1e4, 1e-6, and spread over 2^-20 .. 2^10 in one row): the chunk scaling keeps f16 in range', async (ctx) => {
    needF16(ctx);
    const rng = new Rng(52);
    for (const type of F16_TYPES) {
      const k = kStep(type) * (isFloat(type) ? 32 : 2);
      const tw = makeWeight(type, 9, k, rng);
      // unscaled, 1e4 * 15 * 32 overflows f16 and 1e-6 is subnormal in it
      await checkMatvec(tw, rng.fill(k).map((v) => v * 1e4));
      await checkMatvec(tw, rng.fill(k).map((v) => v * 1e-6));
      await checkMatvec(tw, rng.fill(k).map((v, i) => v * 2 ** ((i % 31) - 20)));
    }
  });

  it('normOut: y, and xg = fl(y * g) from it, as the f32 kernel writes them', async (ctx) => {
    needF16(ctx);
    const rng = new Rng(53);
    const dim = 37;
    const k = 512;
    const writer = new MatvecKernel(gpu.device, 'Q4_K', { normOut: true, f16: true });
    const tw = makeWeight(GgmlType.Q4_K, dim, k, rng);
    const x = rng.fill(k);
    const h0 = rng.fill(dim, -4, 4);
    const g = rng.fill(dim, 0.2, 2);
    const wb = uploadTestWeight(gpu.device, tw);
    const [xb, hb, gb] = [x, h0, g].map((a, i) => uploadStorage(gpu.device, a, `in${i}`));
    const xg = uploadStorage(gpu.device, new Float32Array(dim).fill(NaN), 'xg');
    const pb = uploadStorage(gpu.device, new Float32Array(writer.partialsBytes(dim) / 4), 'partials');
    const params = writer.createParams(k, dim, 0, true);
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    writer.encode(pass, writer.bindNormOut(wb, xb, hb, params, { g: gb, xg, partials: pb }), dim);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const h = new Float32Array(await readBuffer(gpu.device, hb, 4 * dim));
    const xgv = new Float32Array(await readBuffer(gpu.device, xg, 4 * dim));
    const report = judgeMatvec(writer, tw, x, h, h0);
    expect(report.ok, describeBounds(report)).toBe(true);
    for (let i = 0; i < dim; i++) expect(xgv[i]).toBe(Math.fround(h[i] * g[i]));
    destroyWeight(wb);
    for (const b of [xb, hb, gb, xg, pb, params]) b.destroy();
  });
});

// ---------------------------------------------------------------- norm_matvec

const normMatvec = kernelCache((type, opts: NormMatvecOptions) => new NormMatvecKernel(gpu.device, formatOf(type), { ...opts, f16: true }));

async function checkNormMatvec(tw: TestWeight, x: Float32Array, g: Float32Array, opts: NormMatvecOptions = {}, y0?: Float32Array): Promise<number> {
  const kern = normMatvec(tw.type, opts);
  const w = uploadTestWeight(gpu.device, tw);
  const got = await runOnce(gpu.device, [x, g], y0 ?? new Float32Array(tw.rows).fill(NaN), (pass, [xb, gb], yb) => {
    const params = kern.createParams({ k: tw.k, rows: tw.rows, eps: EPS, accumulate: y0 !== undefined });
    kern.encode(pass, kern.bind(w, xb, gb, yb, params), tw.rows);
    return [params];
  });
  destroyWeight(w);
  const xn = rmsnormRef(x, g, 1, tw.k, EPS);
  const ref = matvecRef(tw.w, xn, tw.rows, tw.k, y0);
  const sg = sgOf(kern.subgroups);
  const depth = matvecDepth(tw.type, tw.k, kern.lanesPerRow, sg) + normDepth(tw.type, tw.k, kern.lanesPerRow, sg);
  const report = checkBounds(got, ref, bounds(tw, xn, depth, ref));
  expect(report.ok, `norm_matvec f16 ${formatOf(tw.type)} ${tw.rows}x${tw.k} ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

describe('norm_matvec f16: every format with an f16 decoder vs rmsnorm -> matvec references', () => {
  it.for(F16_TYPES.map((t) => [formatOf(t), t] as const))('%s: random shapes, accumulate', async ([name, type], ctx) => {
    needF16(ctx);
    const rng = new Rng(600 + type);
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      const rows = 4 * rng.int(0, 12) + rng.int(1, 3);
      const k = kStep(type) * rng.int(1, isFloat(type) ? 200 : 7);
      const tw = makeWeight(type, rows, k, rng);
      // un-normalized activations of a residual stream's size: the kernel scales x * g, not xn
      const x = rng.fill(k).map((v) => v * (t + 1) * 20);
      const g = rng.fill(k, 0.2, 2);
      worst = Math.max(worst, await checkNormMatvec(tw, x, g, {}, t === 2 ? rng.fill(rows, -5, 5) : undefined));
      if (gpu.hasSubgroups() && t === 0 && TREE_TOO.includes(type)) worst = Math.max(worst, await checkNormMatvec(tw, x, g, { subgroups: false }));
    }
    console.log(`norm_matvec f16 ${name}: worst err/bound ${worst.toExponential(2)}`);
  });
});

// ---------------------------------------------------------------- swiglu_matvec

const swiglu = kernelCache((type, opts: SwigluMatvecOptions) => new SwigluMatvecKernel(gpu.device, formatOf(type), { ...opts, f16: true }));

async function checkSwiglu(tw: TestWeight, ffn: number, x: Float32Array, g: Float32Array | null, opts: SwigluMatvecOptions = {}): Promise<number> {
  const kern = swiglu(tw.type, { ...opts, norm: g !== null });
  const w = uploadTestWeight(gpu.device, tw);
  const got = await runOnce(gpu.device, g ? [x, g] : [x], new Float32Array(ffn).fill(NaN), (pass, [xb, gb], hb) => {
    const params = kern.createParams(w, { ffn, eps: EPS });
    kern.encode(pass, kern.bind(w, xb, gb ?? null, hb, params), ffn);
    return [params];
  });
  destroyWeight(w);
  const xn = g ? rmsnormRef(x, g, 1, tw.k, EPS) : x;
  const gu = matvecRef(tw.w, xn, tw.rows, tw.k);
  const sg = sgOf(kern.subgroups);
  const depth = matvecDepth(tw.type, tw.k, kern.lanesPerRow, sg) + (g ? normDepth(tw.type, tw.k, kern.lanesPerRow, sg) : 0);
  const e = bounds(tw, xn, depth, gu);
  const h = siluMulRef(gu, 1, ffn);
  const bound = Float64Array.from(h, (v, r) => swigluBound(gu[r], gu[ffn + r], e[r], e[ffn + r], v));
  const report = checkBounds(got, h, bound);
  expect(report.ok, `swiglu_matvec f16 ${formatOf(tw.type)} ffn ${ffn} k ${tw.k} ${JSON.stringify(opts)} norm ${g !== null}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

describe('swiglu_matvec f16: every format with an f16 decoder vs rmsnorm -> matvec -> silu_mul references', () => {
  it.for(F16_TYPES.map((t) => [formatOf(t), t] as const))('%s: random shapes, with and without the norm', async ([name, type], ctx) => {
    needF16(ctx);
    const rng = new Rng(700 + type);
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      const ffn = 4 * rng.int(0, 8) + rng.int(1, 3);
      const k = kStep(type) * rng.int(1, isFloat(type) ? 200 : 7);
      const tw = makeWeight(type, 2 * ffn, k, rng);
      const x = rng.fill(k).map((v) => v * (t + 1) * 7.5);
      worst = Math.max(worst, await checkSwiglu(tw, ffn, x, rng.fill(k, 0.2, 2)));
      if (t === 0 && TREE_TOO.includes(type)) worst = Math.max(worst, await checkSwiglu(tw, ffn, rng.fill(k), null));
      if (gpu.hasSubgroups() && t === 1 && TREE_TOO.includes(type)) worst = Math.max(worst, await checkSwiglu(tw, ffn, x, rng.fill(k, 0.2, 2), { subgroups: false }));
    }
    console.log(`swiglu_matvec f16 ${name}: worst err/bound ${worst.toExponential(2)}`);
  });
});

// ---------------------------------------------------------------- the PRESCALED readers

describe('f16 norm chain: matvec normOut -> prescaled norm_matvec and swiglu_matvec, all f16', () => {
  it('Q4_K writer, Q6_K and Q4_K readers (the Q4_K_M mix)', async (ctx) => {
    needF16(ctx);
    const rng = new Rng(54);
    const dim = 768;
    const k1 = 1024;
    const rows2 = 37;
    const ffn = 21;
    const sg = sgOf(gpu.hasSubgroups());
    const writer = new MatvecKernel(gpu.device, 'Q4_K', { normOut: true, f16: true });
    const w1 = makeWeight(GgmlType.Q4_K, dim, k1, rng);
    const a = rng.fill(k1).map((v) => 3 * v);
    const h0 = rng.fill(dim).map((v) => 8 * v);
    const g = rng.fill(dim, 0.2, 2);
    const parts = writer.partialCount(dim);
    const wb1 = uploadTestWeight(gpu.device, w1);
    const [ab, hb, gb] = [a, h0, g].map((v, i) => uploadStorage(gpu.device, v, `in${i}`));
    const xg = uploadStorage(gpu.device, new Float32Array(dim).fill(NaN), 'xg');
    const pb = uploadStorage(gpu.device, new Float32Array(writer.partialsBytes(dim) / 4), 'partials');
    const p1 = writer.createParams(k1, dim, 0, true);
    const reader = new NormMatvecKernel(gpu.device, 'Q6_K', { prescaled: true, f16: true });
    const w2 = makeWeight(GgmlType.Q6_K, rows2, dim, rng);
    const wb2 = uploadTestWeight(gpu.device, w2);
    const y2 = uploadStorage(gpu.device, new Float32Array(rows2).fill(NaN), 'y2');
    const p2 = reader.createParams({ k: dim, rows: rows2, eps: EPS, parts });
    const sw = new SwigluMatvecKernel(gpu.device, 'Q4_K', { prescaled: true, f16: true });
    const w3 = makeWeight(GgmlType.Q4_K, 2 * ffn, dim, rng);
    const wb3 = uploadTestWeight(gpu.device, w3);
    const y3 = uploadStorage(gpu.device, new Float32Array(ffn).fill(NaN), 'y3');
    const p3 = sw.createParams(wb3, { ffn, eps: EPS, parts });
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    writer.encode(pass, writer.bindNormOut(wb1, ab, hb, p1, { g: gb, xg, partials: pb }), dim);
    reader.encode(pass, reader.bindPrescaled(wb2, xg, pb, y2, p2), rows2);
    sw.encode(pass, sw.bindPrescaled(wb3, xg, pb, y3, p3), ffn);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const read = async (b: GPUBuffer, n: number) => new Float32Array(await readBuffer(gpu.device, b, 4 * n));
    const [h, out2, out3] = [await read(hb, dim), await read(y2, rows2), await read(y3, ffn)];

    const hr = judgeMatvec(writer, w1, a, h, h0);
    expect(hr.ok, `writer: ${describeBounds(hr)}`).toBe(true);
    // the readers on the writer's own y
    const xn = rmsnormRef(h, g, 1, dim, EPS);
    const rowsPer = writer.rowsPerWorkgroup;
    const ref2 = matvecRef(w2.w, xn, rows2, dim);
    const depth2 = matvecDepth(GgmlType.Q6_K, dim, reader.workgroupSize, sg) + prescaledNormDepth(rowsPer, parts, reader.workgroupSize, sg);
    const r2 = checkBounds(out2, ref2, bounds(w2, xn, depth2, ref2));
    expect(r2.ok, `norm_matvec prescaled: ${describeBounds(r2)}`).toBe(true);
    const gu = matvecRef(w3.w, xn, 2 * ffn, dim);
    const depth3 = matvecDepth(GgmlType.Q4_K, dim, sw.workgroupSize, sg) + prescaledNormDepth(rowsPer, parts, sw.workgroupSize, sg);
    const e = bounds(w3, xn, depth3, gu);
    const hs = siluMulRef(gu, 1, ffn);
    const r3 = checkBounds(out3, hs, Float64Array.from(hs, (v, r) => swigluBound(gu[r], gu[ffn + r], e[r], e[ffn + r], v) + U * Math.abs(v)));
    expect(r3.ok, `swiglu_matvec prescaled: ${describeBounds(r3)}`).toBe(true);
    for (const wb of [wb1, wb2, wb3]) destroyWeight(wb);
    for (const b of [ab, hb, gb, xg, pb, p1, y2, p2, y3, p3]) b.destroy();
  });
});

// ---------------------------------------------------------------- the bound can fail

describe('f16: the tolerance catches real decoding errors, and the math is really f16', () => {
  async function corrupted(tw: TestWeight, x: Float32Array, mutate: (raw: Uint8Array) => void): Promise<BoundReport> {
    const bad = tw.raw.slice();
    mutate(bad);
    const w = uploadRepacked(gpu.device, repack(tw.type, tw.k, bad));
    const kern = matvec(tw.type);
    const got = await runMatvec(kern, [{ weight: w, rowOffset: 0 }], x, new Float32Array(tw.rows));
    destroyWeight(w);
    return judgeMatvec(kern, tw, x, got);
  }

  it('one flipped high-nibble bit (Q4_K, k = 256) fails the bound', async (ctx) => {
    needF16(ctx);
    const rng = new Rng(55);
    const tw = makeWeight(GgmlType.Q4_K, 8, 256, rng);
    const x = rng.fill(256);
    // row 5, qs byte 40 = group 1, l = 8: its high nibble is element 64 + 32 + 8; the flip moves
    // that output by 8 d sc, about 2.5 times its bound here (the bound grows with k: at k = 3072
    // one bit's change is within the worst case of f16's rounding)
    x[104] = 1;
    const report = await corrupted(tw, x, (raw) => (raw[5 * 144 + 16 + 40] ^= 0x80));
    expect(report.bad).toBe(1);
    expect(report.worstRatio).toBeGreaterThan(2);
  });

  it('one flipped scale bit (Q6_K) fails the bound', async (ctx) => {
    needF16(ctx);
    const rng = new Rng(56);
    const tw = makeWeight(GgmlType.Q6_K, 4, 512, rng);
    const x = rng.fill(512);
    // row 2, block 1, scales[5] bit 6: sub-block 5 = elements 256 + 80 .. +16 scaled by sc ^ 64
    // (sc is up to 127: a change of about half the sub-block's weights); x there follows the
    // weights' signs, so the change (64 d sum |q - 32|) cannot cancel
    for (let i = 336; i < 352; i++) x[i] = Math.sign(tw.w[2 * 512 + i]) || 1;
    const report = await corrupted(tw, x, (raw) => (raw[2 * 2 * 210 + 210 + 192 + 5] ^= 0x40));
    expect(report.bad).toBe(1);
    expect(report.worstRatio).toBeGreaterThan(3);
  });

  it('Q4_K: the f16 results differ from the f32 kernel by more than the f32 bound allows', async (ctx) => {
    needF16(ctx);
    const rng = new Rng(57);
    const tw = makeWeight(GgmlType.Q4_K, 16, 3072, rng);
    const x = rng.fill(3072);
    const w = uploadTestWeight(gpu.device, tw);
    const kern = matvec(tw.type);
    const got = await runMatvec(kern, [{ weight: w, rowOffset: 0 }], x, new Float32Array(16));
    destroyWeight(w);
    const ref = matvecRef(tw.w, x, tw.rows, tw.k);
    const f32Only = checkBounds(got, ref, errorBounds(tw, x, matvecDepth(tw.type, tw.k, kern.lanesPerRow, sgOf(kern.subgroups)), ref));
    expect(f32Only.bad).toBeGreaterThan(0);
    expect(judgeMatvec(kern, tw, x, got).ok).toBe(true);
  });
});

// ---------------------------------------------------------------- refusals

describe('f16: refusals', () => {
  it('the formats with an f16 decoder; F32 and BF16 have none and are refused by name', () => {
    expect(WEIGHT_FORMATS.filter(hasF16Decoder)).toEqual(F16_FORMATS);
    for (const f of ['F32', 'BF16'] as const) {
      expect(() => weightShader(f, '', { f16: true })).toThrow(new RegExp(`^${f} weights have no f16-math decoder`));
    }
    expect(weightShader('Q4_K', '', { f16: true }).startsWith('enable f16;\n')).toBe(true);
    expect(weightShader('Q4_K', '')).not.toContain('f16;');
  });

  it('every kernel refuses f16 on a device without shader-f16', () => {
    // the real device where it lacks the feature (SwiftShader), else a view of it without it
    const real = gpu.device;
    const dev = real.features.has('shader-f16')
      ? (new Proxy(real, { get: (t, p) => (p === 'features' ? new Set([...t.features].filter((f) => f !== 'shader-f16')) : Reflect.get(t, p, t)) }) as GPUDevice)
      : real;
    const msg = /f16 math needs the shader-f16 feature, which this device lacks/;
    expect(() => new MatvecKernel(dev, 'Q4_K', { f16: true })).toThrow(msg);
    expect(() => new NormMatvecKernel(dev, 'Q6_K', { f16: true })).toThrow(msg);
    expect(() => new SwigluMatvecKernel(dev, 'Q4_K', { f16: true })).toThrow(msg);
  });

  it('on a device with shader-f16, F32 and BF16 are refused by name', (ctx) => {
    needF16(ctx);
    expect(() => new MatvecKernel(gpu.device, 'F32', { f16: true })).toThrow(/^matvec: F32 weights have no f16-math decoder/);
    expect(() => new SwigluMatvecKernel(gpu.device, 'BF16', { f16: true })).toThrow(/^swiglu_matvec: BF16 weights have no f16-math decoder/);
  });
});
