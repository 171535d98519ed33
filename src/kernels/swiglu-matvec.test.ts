/**
 * RMSNorm + gate/up GEMV + SwiGLU in one dispatch (src/kernels/swiglu-matvec.ts) against the
 * CPU references composed: rmsnormRef -> matvecRef (all 2F rows) -> siluMulRef.
 *
 * Tolerance. E_a, E_b = errorBounds() of the gate and up rows on the normalized x with depth
 * matvecDepth + normDepth (exactly norm-matvec.test.ts's bound; without the norm, matvecDepth).
 * h = silu(a) b, |silu'| <= 1.1, so
 *   |h_gpu - h_ref| <= 1.1 E_a |b| + |silu(a)| E_b + 1.1 E_a E_b
 *                      + (8 + 2|a|) u |silu(a) b|       (silu: WGSL exp's 3 + 2|a| ulp, the
 *                                                        sigmoid's add and divide, two products)
 *                      + u |h|                          (the add to h0 when accumulating).
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { matvecRef } from './matvec.ref.ts';
import { rmsnormRef } from './rmsnorm.ref.ts';
import { siluMulRef } from './silu_mul.ref.ts';
import { SwigluMatvecKernel } from './swiglu-matvec.ts';
import type { SwigluMatvecOptions } from './swiglu-matvec.ts';
import { destroyWeight, uploadWeight, type GpuWeight } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import { Rng } from '../util/rng.ts';
import { decodeTuning } from './tuning.ts';
import { gemvVariantValid } from './gemv.ts';
import { normDepth } from './test-norm.ts';
import {
  ALL_TYPES, U, checkBounds, describeBounds, errorBounds, formatOf, kStep, kernelCache, makeWeight, matvecDepth, rowGroupShapes, rowGroupShapesFor,
  runOnce, silu, swigluBound, uploadTestWeight,
} from './test-weights.ts';
import type { TestWeight } from './test-weights.ts';

const EPS = 1e-5;

const gpu = gpuForTests();

const kernel = kernelCache((type, opts: SwigluMatvecOptions) => new SwigluMatvecKernel(gpu.device, formatOf(type), opts));

/** h = silu(gate x') * (up x') (+ hInit when accumulating); g null: no norm, x' = x. */
function runSwigluMatvec(
  kern: SwigluMatvecKernel,
  w: GpuWeight,
  x: Float32Array,
  g: Float32Array | null,
  p: { ffn: number; eps?: number; upRow?: number },
  hInit: Float32Array,
  accumulate = false,
): Promise<Float32Array> {
  return runOnce(gpu.device, g ? [x, g] : [x], hInit, (pass, [xb, gb], hb) => {
    const params = kern.createParams(w, { ...p, accumulate });
    kern.encode(pass, kern.bind(w, xb, gb ?? null, hb, params), p.ffn);
    return [params];
  });
}

/**
 * The composed references h = silu(gate x') (up x') for tw's rows 0 .. ffn and upRow .. + ffn,
 * and the bound of each output but for the add to h0 (see the top of this file).
 */
function reference(kern: SwigluMatvecKernel, tw: TestWeight, ffn: number, x: Float32Array, g: Float32Array | null, upRow = ffn) {
  const xn = g ? rmsnormRef(x, g, 1, tw.k, EPS) : x;
  const gu = matvecRef(tw.w, xn, tw.rows, tw.k);
  const sg = kern.subgroups ? gpu.subgroupSizes : null;
  // only the threads that share a row count: the workgroup, or a row group's lanes (see matvec.test.ts judge)
  const depth = matvecDepth(tw.type, tw.k, kern.lanesPerRow, sg) + (g ? normDepth(tw.type, tw.k, kern.lanesPerRow, sg) : 0);
  const e = errorBounds(tw, xn, depth, gu);
  // [gate rows | up rows] as siluMulRef wants them
  const pair = new Float32Array(2 * ffn);
  pair.set(gu.subarray(0, ffn));
  pair.set(gu.subarray(upRow, upRow + ffn), ffn);
  const h = siluMulRef(pair, 1, ffn);
  const bound = Float64Array.from(h, (v, r) => swigluBound(pair[r], pair[ffn + r], e[r], e[upRow + r], v));
  return { h, bound };
}

/**
 * tw: the fused weight, 2F rows (gate, then up) or more with upRow. GPU vs the composed
 * references, accumulating onto h0 when given. Returns the worst err/bound.
 */
async function check(
  tw: TestWeight,
  ffn: number,
  x: Float32Array,
  g: Float32Array | null,
  opts: SwigluMatvecOptions = {},
  h0?: Float32Array,
  upRow = ffn,
): Promise<number> {
  const kern = kernel(tw.type, opts);
  const w = uploadTestWeight(gpu.device, tw);
  const init = h0 ?? new Float32Array(ffn).fill(NaN);
  const got = await runSwigluMatvec(kern, w, x, g, { ffn, eps: EPS, upRow }, init, h0 !== undefined);
  destroyWeight(w);
  const { h, bound } = reference(kern, tw, ffn, x, g, upRow);
  const ref = Float64Array.from(h, (v, r) => (h0 ? h0[r] : 0) + v);
  const report = checkBounds(got, ref, bound.map((b, r) => b + U * Math.abs(ref[r])));
  expect(report.ok, `${formatOf(tw.type)} ffn ${ffn} k ${tw.k} ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

const isFloat = (t: GgmlType) => t === GgmlType.F32 || t === GgmlType.F16 || t === GgmlType.BF16;

describe('swiglu_matvec: every weight type vs rmsnorm -> matvec -> silu_mul references', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: random shapes, ffn off the tiles', async (_name, type) => {
    const rng = new Rng(300 + type);
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      // ffn never a multiple of the 8-row tile, some below it
      const ffn = 4 * rng.int(0, 8) + rng.int(1, 3);
      const k = kStep(type) * rng.int(1, isFloat(type) ? 200 : 7);
      const tw = makeWeight(type, 2 * ffn, k, rng);
      const x = rng.fill(k).map((v) => v * (t + 1) * 7.5);
      const g = rng.fill(k, 0.2, 2);
      worst = Math.max(worst, await check(tw, ffn, x, g));
      if (gpu.hasSubgroups() && t === 0) worst = Math.max(worst, await check(tw, ffn, x, g, { subgroups: false }));
    }
    console.log(`swiglu_matvec ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 row length (k = 3072) for the int4 formats', async () => {
    const rng = new Rng(9);
    for (const type of [GgmlType.Q4_K, GgmlType.Q4_0, GgmlType.Q6_K]) {
      await check(makeWeight(type, 2 * 21, 3072, rng), 21, rng.fill(3072, -3, 3), rng.fill(3072, 0.5, 1.5));
    }
  });
});

describe('swiglu_matvec: fixed hand-checked case', () => {
  it('F32: gate row 1, up row 0.5, x = 3 (normalized to 1) -> 4 silu(8)', async () => {
    const k = 8;
    const wf = new Float32Array(2 * k).fill(1, 0, k).fill(0.5, k);
    const w = uploadWeight(gpu.device, 'F32', k, 2, new Uint8Array(wf.buffer));
    const x = new Float32Array(k).fill(3);
    const g = new Float32Array(k).fill(1);
    const want = 4 * silu(8); // a = 8, b = 4
    for (const subgroups of gpu.hasSubgroups() ? [false, true] : [false]) {
      const got = await runSwigluMatvec(kernel(GgmlType.F32, { subgroups }), w, x, g, { ffn: 1, eps: 0 }, new Float32Array(1));
      expect(Math.abs(got[0] - want)).toBeLessThanOrEqual(want * 32 * U);
    }
    destroyWeight(w);
  });
});

describe('swiglu_matvec: options', () => {
  it('accumulate: h = h0 + silu(gate) up, for every type', async () => {
    const rng = new Rng(31);
    for (const type of ALL_TYPES) {
      const k = kStep(type) * (kStep(type) === 8 ? 40 : 2);
      await check(makeWeight(type, 26, k, rng), 13, rng.fill(k), rng.fill(k, 0.5, 1.5), {}, rng.fill(13, -10, 10));
    }
  });

  it('without the norm (norm: false): silu(gate x) * (up x)', async () => {
    const rng = new Rng(32);
    for (const type of [GgmlType.Q4_K, GgmlType.Q8_0]) {
      const k = kStep(type) * 3;
      await check(makeWeight(type, 2 * 19, k, rng), 19, rng.fill(k), null, { norm: false });
    }
  });

  it('up rows elsewhere in the weight (upRow > ffn)', async () => {
    const rng = new Rng(33);
    const k = 512;
    await check(makeWeight(GgmlType.Q4_K, 30, k, rng), 11, rng.fill(k), rng.fill(k, 0.5, 1.5), {}, undefined, 17);
  });

  it('other workgroup sizes and rows per workgroup give the same results', async () => {
    const rng = new Rng(34);
    const shapes: SwigluMatvecOptions[] = [
      { workgroupSize: 32, rowsPerWorkgroup: 1 },
      { workgroupSize: 128, rowsPerWorkgroup: 3 },
      { workgroupSize: 64, rowsPerWorkgroup: 16 },
      // 8 threads (tuning.ts fitShape: rows of few chunks)
      { workgroupSize: 8, rowsPerWorkgroup: 8 },
    ].map((o, i) => ({ ...o, subgroups: gpu.hasSubgroups() && i % 2 === 0 }));
    const k = 3 * 256;
    const tw = makeWeight(GgmlType.Q4_K, 2 * 37, k, rng);
    const x = rng.fill(k);
    const g = rng.fill(k, 0.5, 1.5);
    for (const o of shapes) await check(tw, 37, x, g, o);
  });

  it('the CPU-driver shapes of src/kernels/tuning.ts, Q4_K_M types, ffn off the tiles', async () => {
    // (the GPU shape is the kernel's default, tested above). Each swiglu pipeline costs ~10 s of
    // JIT on a loaded CPU driver: Q4_K through every shape, Q5_K and Q6_K through one.
    const rng = new Rng(35);
    const shapes: SwigluMatvecOptions[] = [];
    for (const description of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'SwiftShader Device (Subzero)']) {
      shapes.push(decodeTuning({ vendor: '', architecture: '', device: '', description }, gpu.hasSubgroups()).swigluMatvec);
    }
    if (gpu.hasSubgroups()) shapes.push({ ...shapes[0], subgroups: false });
    const k = 3 * 256;
    for (const [type, opts] of [[GgmlType.Q4_K, shapes], [GgmlType.Q5_K, [shapes[0]]], [GgmlType.Q6_K, [shapes[1]]]] as const) {
      // 21 = 2 full 8-row workgroups and a partial one
      const tw = makeWeight(type, 2 * 21, k, rng);
      for (const o of opts) await check(tw, 21, rng.fill(k), rng.fill(k, 0.5, 1.5), o);
    }
  });

  it('rejects a weight that lacks the up rows (a split part)', () => {
    const rng = new Rng(35);
    const tw = makeWeight(GgmlType.Q4_K, 20, 256, rng);
    const w = uploadTestWeight(gpu.device, tw);
    expect(() => kernel(GgmlType.Q4_K).createParams(w, { ffn: 12, eps: EPS })).toThrow(RangeError);
    destroyWeight(w);
  });
});

describe('swiglu_matvec: row groups (lanesPerRow)', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: row-group shapes (all for Q4_K), ffn off the tiles', async (_name, type) => {
    const rng = new Rng(700 + type);
    const k = kStep(type) * (isFloat(type) ? 160 : kStep(type) === 32 ? 40 : 5);
    // 21 outputs: whole workgroups and a partial one in every shape
    const tw = makeWeight(type, 2 * 21, k, rng);
    let worst = 0;
    for (const o of rowGroupShapesFor(type, gpu.hasSubgroups() ? gpu.subgroupSizes.min : null)) {
      worst = Math.max(worst, await check(tw, 21, rng.fill(k).map((v) => v * 7.5), rng.fill(k, 0.2, 2), o));
      if (type === GgmlType.Q4_K) await check(tw, 21, rng.fill(k), rng.fill(k, 0.5, 1.5), o, rng.fill(21, -10, 10));
    }
    console.log(`swiglu_matvec row groups ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('without the norm, and up rows elsewhere (upRow > ffn)', async () => {
    const rng = new Rng(37);
    const o = { workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 8, subgroups: false };
    await check(makeWeight(GgmlType.Q8_0, 2 * 19, 96, rng), 19, rng.fill(96), null, { ...o, norm: false });
    await check(makeWeight(GgmlType.Q4_K, 30, 512, rng), 11, rng.fill(512), rng.fill(512, 0.5, 1.5), o, undefined, 17);
  });

  it('one flipped nibble bit in an up row fails the bound in row groups too', async () => {
    const rng = new Rng(38);
    const ffn = 4;
    const tw = makeWeight(GgmlType.Q4_K, 2 * ffn, 3072, rng);
    const x = rng.fill(3072);
    x[7 * 256 + 104] = 1; // row 5 (up row 1), block 7, qs byte 40's high nibble (see matvec.test.ts)
    const g = rng.fill(3072, 0.5, 1.5);
    const bad: TestWeight = { ...tw, raw: tw.raw.slice() };
    bad.raw[5 * 12 * 144 + 7 * 144 + 16 + 40] ^= 0x80;
    await expect(checkCorrupt(tw, bad, ffn, x, g, { workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 4, subgroups: false })).resolves.toBe(1);
  });

  it('gemvVariantValid agrees with the constructor', () => {
    // 32 output rows: over swiglu_matvec's 16
    const bad = { workgroupSize: 64, lanesPerRow: 4, rowsPerWorkgroup: 32, subgroups: false };
    expect(gemvVariantValid(gpu.device, 'swigluMatvec', bad)).toMatch(/rows per workgroup 32 outside 1..16/);
    expect(() => new SwigluMatvecKernel(gpu.device, 'Q4_K', bad)).toThrow(/rows per workgroup 32 outside 1..16/);
    for (const o of rowGroupShapes(gpu.hasSubgroups() ? gpu.subgroupSizes.min : null)) expect(gemvVariantValid(gpu.device, 'swigluMatvec', o)).toBeNull();
  });
});

describe('swiglu_matvec: the tolerance still catches real errors', () => {
  it('one flipped nibble bit in an up row (Q4_K, k = 3072) fails the bound', async () => {
    const rng = new Rng(36);
    const ffn = 4;
    const tw = makeWeight(GgmlType.Q4_K, 2 * ffn, 3072, rng);
    const x = rng.fill(3072);
    x[7 * 256 + 104] = 1; // row 5 (up row 1), block 7, qs byte 40's high nibble (see matvec.test.ts)
    const g = rng.fill(3072, 0.5, 1.5);
    const bad: TestWeight = { ...tw, raw: tw.raw.slice() };
    bad.raw[5 * 12 * 144 + 7 * 144 + 16 + 40] ^= 0x80;
    // judge the corrupted GPU run against the intact reference: swap raw only for the upload
    await expect(checkCorrupt(tw, bad, ffn, x, g)).resolves.toBe(1);
  });
});

/** Number of outputs out of bound when the GPU runs on `bad` and is judged against `tw`. */
async function checkCorrupt(tw: TestWeight, bad: TestWeight, ffn: number, x: Float32Array, g: Float32Array, opts: SwigluMatvecOptions = {}): Promise<number> {
  const kern = kernel(tw.type, opts);
  const w = uploadTestWeight(gpu.device, bad);
  const got = await runSwigluMatvec(kern, w, x, g, { ffn, eps: EPS }, new Float32Array(ffn));
  destroyWeight(w);
  const { h, bound } = reference(kern, tw, ffn, x, g);
  return checkBounds(got, h, bound).bad;
}
