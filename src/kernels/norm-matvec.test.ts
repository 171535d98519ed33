/**
 * RMSNorm fused into the decode GEMV (src/kernels/norm-matvec.ts) against the CPU references
 * composed: rmsnormRef -> matvecRef, on weights dequantized exactly like llama.cpp. Tolerance:
 * errorBounds() of matvec.test.ts on the normalized x, with depth matvecDepth + normDepth
 * (test-norm.ts: the norm's sum of squares, inverseSqrt and the extra roundings).
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import type { MatvecOptions } from './matvec.ts';
import { matvecRef } from './matvec.ref.ts';
import { NormMatvecKernel } from './norm-matvec.ts';
import { rmsnormRef } from './rmsnorm.ref.ts';
import { destroyWeight } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import { repack } from '../model/repack.ts';
import { Rng } from '../util/rng.ts';
import { decodeTuning } from './tuning.ts';
import { gemvVariantValid } from './gemv.ts';
import { normDepth } from './test-norm.ts';
import {
  ALL_TYPES, checkBounds, describeBounds, errorBounds, formatOf, kStep, kernelCache, makeWeight, matvecDepth, rowGroupShapes, rowGroupShapesFor,
  runOnce, uploadRepacked, uploadTestWeight, uploadTestWeightParts,
} from './test-weights.ts';
import type { BoundReport, TestWeight, WeightPart } from './test-weights.ts';

const EPS = 1e-5;

const gpu = gpuForTests();

const kernel = kernelCache((type, opts: MatvecOptions) => new NormMatvecKernel(gpu.device, formatOf(type), opts));

/** y = W (rmsnorm(x) g) (or yInit + ... when accumulating), each part writing its rows at its row offset. */
function runNormMatvec(
  kern: NormMatvecKernel,
  parts: readonly WeightPart[],
  x: Float32Array,
  g: Float32Array,
  eps: number,
  yInit: Float32Array,
  accumulate = false,
): Promise<Float32Array> {
  return runOnce(gpu.device, [x, g], yInit, (pass, [xb, gb], yb) =>
    parts.map(({ weight, rowOffset }) => {
      const params = kern.createParams({ k: weight.k, rows: weight.rows, eps, yOffset: rowOffset, accumulate });
      kern.encode(pass, kern.bind(weight, xb, gb, yb, params), weight.rows);
      return params;
    }),
  );
}

/** `got` from `kern` against rmsnormRef -> matvecRef (+ y0) and its error bound. */
function judge(kern: NormMatvecKernel, tw: TestWeight, x: Float32Array, g: Float32Array, got: Float32Array, y0?: Float32Array): BoundReport {
  const xn = rmsnormRef(x, g, 1, tw.k, EPS);
  const ref = matvecRef(tw.w, xn, tw.rows, tw.k, y0);
  const sg = kern.subgroups ? gpu.subgroupSizes : null;
  // only the threads that share a row count: the workgroup, or a row group's lanes (which also
  // sum x^2 on their own); see matvec.test.ts judge
  const depth = matvecDepth(tw.type, tw.k, kern.lanesPerRow, sg) + normDepth(tw.type, tw.k, kern.lanesPerRow, sg);
  return checkBounds(got, ref, errorBounds(tw, xn, depth, ref));
}

/** GPU vs rmsnormRef -> matvecRef; split at `cuts`, accumulating onto y0 when given. Returns the worst err/bound. */
async function check(tw: TestWeight, x: Float32Array, g: Float32Array, opts: MatvecOptions = {}, cuts?: number[], y0?: Float32Array): Promise<number> {
  const kern = kernel(tw.type, opts);
  const parts = cuts ? uploadTestWeightParts(gpu.device, tw, cuts) : [{ weight: uploadTestWeight(gpu.device, tw), rowOffset: 0 }];
  const init = y0 ?? new Float32Array(tw.rows).fill(NaN);
  const got = await runNormMatvec(kern, parts, x, g, EPS, init, y0 !== undefined);
  for (const p of parts) destroyWeight(p.weight);
  const report = judge(kern, tw, x, g, got, y0);
  expect(report.ok, `${formatOf(tw.type)} ${tw.rows}x${tw.k} ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

const isFloat = (t: GgmlType) => t === GgmlType.F32 || t === GgmlType.F16 || t === GgmlType.BF16;

describe('norm_matvec: every weight type vs rmsnorm -> matvec references', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: random shapes, rows off the tiles', async (_name, type) => {
    const rng = new Rng(200 + type);
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      const rows = 4 * rng.int(0, 12) + rng.int(1, 3);
      const k = kStep(type) * rng.int(1, isFloat(type) ? 200 : 7);
      const tw = makeWeight(type, rows, k, rng);
      // activations off the unit scale (the norm must remove it), norm weights around 1
      const x = rng.fill(k, -1, 1).map((v) => v * (t + 1) * 7.5);
      const g = rng.fill(k, 0.2, 2);
      worst = Math.max(worst, await check(tw, x, g));
      if (gpu.hasSubgroups() && t === 0) worst = Math.max(worst, await check(tw, x, g, { subgroups: false }));
    }
    console.log(`norm_matvec ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 row length (k = 3072) for the int4 formats, and k = 8192 for Q4_K', async () => {
    const rng = new Rng(8);
    for (const [type, k] of [[GgmlType.Q4_K, 3072], [GgmlType.Q4_0, 3072], [GgmlType.Q6_K, 3072], [GgmlType.Q4_K, 8192]] as const) {
      await check(makeWeight(type, 21, k, rng), rng.fill(k, -3, 3), rng.fill(k, 0.5, 1.5));
    }
  });
});

describe('norm_matvec: fixed hand-checked case', () => {
  it('Q4_0: d = 0.5, x = 4, g = 0.5 | 1 -> x\' = 0.5 | 1 -> -6', async () => {
    // inv_rms = 1 / sqrt(16) = 0.25 (eps = 0); x' = 0.5 on elements 0..15, 1 on 16..31
    // low nibbles j: (j - 8) * 0.5; high nibbles: (7 - j) * 0.5
    // y = 0.5 * (0.5 * sum_j (j - 8) + 1 * sum_j (7 - j)) = 0.5 * (-4 - 8) = -6
    const raw = new Uint8Array(18);
    raw[1] = 0x38; // f16 0.5
    for (let j = 0; j < 16; j++) raw[2 + j] = j | ((15 - j) << 4);
    const x = new Float32Array(32).fill(4);
    const g = new Float32Array(32).fill(0.5, 0, 16).fill(1, 16);
    const w = uploadRepacked(gpu.device, repack(GgmlType.Q4_0, 32, raw));
    for (const subgroups of gpu.hasSubgroups() ? [false, true] : [false]) {
      const got = await runNormMatvec(kernel(GgmlType.Q4_0, { subgroups }), [{ weight: w, rowOffset: 0 }], x, g, 0, new Float32Array(1));
      // exact but for inverseSqrt's 2 ulp
      expect(Math.abs(got[0] + 6)).toBeLessThanOrEqual(6 * 4 * 2 ** -24);
    }
    destroyWeight(w);
  });
});

describe('norm_matvec: options', () => {
  it('accumulate: y = y0 + W norm(x), for every type', async () => {
    const rng = new Rng(21);
    for (const type of ALL_TYPES) {
      const k = kStep(type) * (kStep(type) === 8 ? 40 : 2);
      await check(makeWeight(type, 13, k, rng), rng.fill(k), rng.fill(k, 0.5, 1.5), {}, undefined, rng.fill(13, -10, 10));
    }
  });

  it('row-split tensor: parts write their own slices of y', async () => {
    const rng = new Rng(22);
    for (const type of [GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16]) {
      const k = kStep(type) * (kStep(type) === 8 ? 24 : 2);
      const tw = makeWeight(type, 23, k, rng);
      await check(tw, rng.fill(k), rng.fill(k, 0.5, 1.5), {}, [0, 5, 6, 17, 23]);
      await check(tw, rng.fill(k), rng.fill(k, 0.5, 1.5), {}, [0, 11, 23], rng.fill(23));
    }
  });

  it('other workgroup sizes and rows per workgroup give the same results', async () => {
    const rng = new Rng(23);
    const shapes: MatvecOptions[] = [
      { workgroupSize: 32, rowsPerWorkgroup: 1 },
      { workgroupSize: 128, rowsPerWorkgroup: 3 },
      { workgroupSize: 16, rowsPerWorkgroup: 5 },
      // 8 threads (tuning.ts fitShape, rows of few chunks), with either reduction
      { workgroupSize: 8, rowsPerWorkgroup: 8 },
      { workgroupSize: 8, rowsPerWorkgroup: 7 },
    ].map((o, i) => ({ ...o, subgroups: gpu.hasSubgroups() && i % 2 === 0 }));
    const k = 3 * 256;
    const tw = makeWeight(GgmlType.Q4_K, 37, k, rng);
    const x = rng.fill(k);
    const g = rng.fill(k, 0.5, 1.5);
    for (const o of shapes) await check(tw, x, g, o);
  });

  it('the per-adapter shapes of src/kernels/tuning.ts, Q4_K_M types, rows off the tiles and split', async () => {
    const rng = new Rng(24);
    const shapes = new Map<string, MatvecOptions>();
    for (const description of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'SwiftShader Device (Subzero)', 'Apple M2']) {
      for (const sub of [false, true]) {
        const { normMatvec } = decodeTuning({ vendor: '', architecture: '', device: '', description }, sub);
        if (!normMatvec.subgroups || gpu.hasSubgroups()) shapes.set(JSON.stringify(normMatvec), normMatvec);
      }
    }
    for (const type of [GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]) {
      const k = 3 * 256;
      const tw = makeWeight(type, 37, k, rng);
      for (const o of shapes.values()) {
        await check(tw, rng.fill(k), rng.fill(k, 0.5, 1.5), o);
        await check(tw, rng.fill(k), rng.fill(k, 0.5, 1.5), o, [0, 5, 21, 37], rng.fill(37));
      }
    }
  });
});

describe('norm_matvec: row groups (lanesPerRow)', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: row-group shapes (all for Q4_K), rows off the tiles', async (_name, type) => {
    const rng = new Rng(600 + type);
    // several chunks per lane in the 32-lane groups
    const k = kStep(type) * (isFloat(type) ? 160 : kStep(type) === 32 ? 40 : 5);
    const tw = makeWeight(type, 37, k, rng);
    let worst = 0;
    for (const o of rowGroupShapesFor(type, gpu.hasSubgroups() ? gpu.subgroupSizes.min : null)) {
      const x = rng.fill(k, -1, 1).map((v) => v * 7.5);
      worst = Math.max(worst, await check(tw, x, rng.fill(k, 0.2, 2), o));
      if (type === GgmlType.Q4_K) await check(tw, rng.fill(k), rng.fill(k, 0.5, 1.5), o, [0, 5, 21, 37], rng.fill(37));
    }
    console.log(`norm_matvec row groups ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('a norm weight off by 5% at one element fails the bound in row groups too', async () => {
    const rng = new Rng(26);
    const tw = makeWeight(GgmlType.Q4_K, 8, 3072, rng);
    const x = rng.fill(3072);
    x[100] = 1;
    const g = rng.fill(3072, 0.5, 1.5);
    const gBad = g.slice();
    gBad[100] *= 1.05;
    const kern = kernel(tw.type, { workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 4, subgroups: false });
    const w = uploadTestWeight(gpu.device, tw);
    const got = await runNormMatvec(kern, [{ weight: w, rowOffset: 0 }], x, gBad, EPS, new Float32Array(tw.rows));
    destroyWeight(w);
    expect(judge(kern, tw, x, g, got).bad).toBeGreaterThan(0);
  });

  it('gemvVariantValid agrees with the constructor', () => {
    const bad = { workgroupSize: 64, lanesPerRow: 16, rowsPerWorkgroup: 2, subgroups: false };
    expect(gemvVariantValid(gpu.device, 'normMatvec', bad)).toMatch(/do not split evenly over its 4 row groups/);
    expect(() => new NormMatvecKernel(gpu.device, 'Q4_K', bad)).toThrow(/do not split evenly over its 4 row groups/);
    for (const o of rowGroupShapes(gpu.hasSubgroups() ? gpu.subgroupSizes.min : null)) expect(gemvVariantValid(gpu.device, 'normMatvec', o)).toBeNull();
  });
});

describe('norm_matvec: the tolerance still catches real errors', () => {
  it('one flipped nibble bit (Q4_K, k = 3072) fails the bound', async () => {
    const rng = new Rng(24);
    const tw = makeWeight(GgmlType.Q4_K, 8, 3072, rng);
    const x = rng.fill(3072);
    x[7 * 256 + 104] = 1; // row 5, block 7, qs byte 40's high nibble (see matvec.test.ts)
    const g = rng.fill(3072, 0.5, 1.5);
    const bad = tw.raw.slice();
    bad[5 * 12 * 144 + 7 * 144 + 16 + 40] ^= 0x80;
    const w = uploadRepacked(gpu.device, repack(tw.type, tw.k, bad));
    const kern = kernel(tw.type);
    const got = await runNormMatvec(kern, [{ weight: w, rowOffset: 0 }], x, g, EPS, new Float32Array(tw.rows));
    destroyWeight(w);
    const report = judge(kern, tw, x, g, got);
    expect(report.bad).toBe(1);
    expect(report.worstRatio).toBeGreaterThan(3);
  });

  it('a norm weight off by 5% at one element fails the bound', async () => {
    const rng = new Rng(25);
    const tw = makeWeight(GgmlType.Q4_K, 8, 3072, rng);
    const x = rng.fill(3072);
    x[100] = 1;
    const g = rng.fill(3072, 0.5, 1.5);
    const gBad = g.slice();
    gBad[100] *= 1.05;
    const kern = kernel(tw.type);
    const w = uploadTestWeight(gpu.device, tw);
    const got = await runNormMatvec(kern, [{ weight: w, rowOffset: 0 }], x, gBad, EPS, new Float32Array(tw.rows));
    destroyWeight(w);
    // judged against the intact g
    expect(judge(kern, tw, x, g, got).bad).toBeGreaterThan(0);
  });
});
