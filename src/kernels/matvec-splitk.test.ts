/**
 * Split-K decode GEMV (GemvOptions.splitK = S: shaders/matvec.wgsl and matvec_groups.wgsl with
 * SPLIT = S, matvec_store_split.wgsl) against the CPU reference, y = y0 + W x, for every weight
 * format, both shapes of the driver (the whole workgroup on each row, row groups), S = 2, 4, 8,
 * rows off the tiles, chunk counts that S does not divide (and fewer chunks than S: empty runs)
 * and row-split tensors.
 *
 * Tolerance: matvec.test.ts's bound (errorBounds, test-weights.ts) at split-K's depth, plus
 * S u |y0| (splitKDepth, splitKY0Bound): a run of ceil(chunks / S) chunks is summed as matvec
 * sums a whole row, then the S runs' sums are added to y in whatever order the workgroups reach
 * it, so each passes through at most S more roundings, and so does y0. The order changes from
 * run to run; the bound holds for every order. A flipped nibble bit still fails it by a wide
 * margin (the last test), as in matvec.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { MatvecKernel } from './matvec.ts';
import type { MatvecOptions } from './matvec.ts';
import { NormMatvecKernel } from './norm-matvec.ts';
import { SwigluMatvecKernel } from './swiglu-matvec.ts';
import { matvecRef } from './matvec.ref.ts';
import { destroyWeight, formatInfo } from './weight-formats.ts';
import { gemvVariantValid } from './gemv.ts';
import { GgmlType } from '../model/quant/index.ts';
import { repack } from '../model/repack.ts';
import { Rng } from '../util/rng.ts';
import {
  ALL_TYPES, checkBounds, describeBounds, errorBounds, formatOf, kStep, kernelCache, makeWeight, runOnce, splitKDepth, splitKY0Bound, uploadRepacked,
  uploadTestWeight, uploadTestWeightParts,
} from './test-weights.ts';
import type { BoundReport, TestWeight, WeightPart } from './test-weights.ts';

const gpu = gpuForTests();

const kernel = kernelCache((type, opts: MatvecOptions) => new MatvecKernel(gpu.device, formatOf(type), opts));

/** y0 + W x, each part adding to its rows at its row offset. */
function runSplit(kern: MatvecKernel, parts: readonly WeightPart[], x: Float32Array, y0: Float32Array): Promise<Float32Array> {
  return runOnce(gpu.device, [x], y0, (pass, [xb], yb) =>
    parts.map(({ weight, rowOffset }) => {
      const params = kern.createParams(weight.k, weight.rows, rowOffset, true);
      kern.encode(pass, kern.bind(weight, xb, yb, params), weight.rows);
      return params;
    }),
  );
}

function judge(kern: MatvecKernel, tw: TestWeight, x: Float32Array, got: Float32Array, y0: Float32Array): BoundReport {
  const ref = matvecRef(tw.w, x, tw.rows, tw.k, y0);
  const depth = splitKDepth(tw.type, tw.k, kern.lanesPerRow, kern.subgroups ? gpu.subgroupSizes : null, kern.splitK);
  return checkBounds(got, ref, splitKY0Bound(errorBounds(tw, x, depth, ref), y0, kern.splitK));
}

/** GPU vs reference for one weight (split at `cuts` when given); the worst err/bound ratio. */
async function check(tw: TestWeight, x: Float32Array, y0: Float32Array, opts: MatvecOptions, cuts?: number[]): Promise<number> {
  const kern = kernel(tw.type, opts);
  expect(kern.splitK).toBe(opts.splitK);
  const parts = cuts ? uploadTestWeightParts(gpu.device, tw, cuts) : [{ weight: uploadTestWeight(gpu.device, tw), rowOffset: 0 }];
  const got = await runSplit(kern, parts, x, y0);
  for (const p of parts) destroyWeight(p.weight);
  const report = judge(kern, tw, x, got, y0);
  expect(report.ok, `${formatOf(tw.type)} ${tw.rows}x${tw.k} ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

const SPLITS = [2, 4, 8];

/**
 * The shapes one format runs: the whole workgroup (64 x 16) and row groups (128 threads, 32
 * lanes, 8 rows; the workgroup-memory tree, which every device has), each with one S, rotating
 * with the format's place so that every S meets both shapes; a third with subgroup reductions
 * where the device has them. Each new pipeline costs about a second of JIT on a CPU driver.
 */
function shapesFor(type: GgmlType): MatvecOptions[] {
  const i = ALL_TYPES.indexOf(type);
  const sg = gpu.hasSubgroups();
  const shapes: MatvecOptions[] = [
    { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: false, splitK: SPLITS[i % 3] },
    { workgroupSize: 128, rowsPerWorkgroup: 8, lanesPerRow: 32, subgroups: false, splitK: SPLITS[(i + 1) % 3] },
  ];
  // a group one subgroup wide (the adapter's narrowest), with subgroup reductions
  if (sg) shapes.push({ workgroupSize: 4 * gpu.subgroupSizes.min, rowsPerWorkgroup: 8, lanesPerRow: gpu.subgroupSizes.min, subgroups: true, splitK: SPLITS[(i + 2) % 3] });
  return shapes;
}

describe('matvec split-K: every weight type vs the CPU reference', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: both driver shapes, rows off the tiles, runs that S does not divide', async (_name, type) => {
    const rng = new Rng(900 + type);
    const chunk = formatInfo(formatOf(type)).chunk;
    let worst = 0;
    for (const o of shapesFor(type)) {
      // chunks per row: not a multiple of S, and once fewer than S (the later runs are empty),
      // where whole blocks allow it (the K-quants' 256-element blocks are 4 chunks: for S = 8)
      for (const chunks of [5 * o.splitK! + 3, o.splitK! - 1]) {
        const k = Math.max(kStep(type), Math.ceil((chunks * chunk) / kStep(type)) * kStep(type));
        const rows = 4 * rng.int(2, 10) + rng.int(1, 3);
        const tw = makeWeight(type, rows, k, rng);
        worst = Math.max(worst, await check(tw, rng.fill(k), rng.fill(rows, -10, 10), o));
      }
    }
    console.log(`matvec split-K ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 shapes: Wo (k = 3072) and down (k = 8192), Q4_K and Q6_K, S = 2, 4, 8', async () => {
    const rng = new Rng(901);
    for (const type of [GgmlType.Q4_K, GgmlType.Q6_K]) {
      for (const [k, splitK] of [[3072, 4], [8192, 2], [8192, 8]]) {
        const tw = makeWeight(type, 37, k, rng);
        await check(tw, rng.fill(k), rng.fill(37, -10, 10), { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: false, splitK });
      }
    }
  });

  it('y0 = 0 gives W x; a row-split tensor adds each part to its own rows', async () => {
    const rng = new Rng(902);
    for (const type of [GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.F16]) {
      const k = kStep(type) * (kStep(type) === 8 ? 96 : kStep(type) === 32 ? 24 : 3);
      const tw = makeWeight(type, 37, k, rng);
      const o: MatvecOptions = { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: false, splitK: 4 };
      await check(tw, rng.fill(k), new Float32Array(37), o);
      await check(tw, rng.fill(k), rng.fill(37), o, [0, 5, 21, 37]);
    }
  });

  it('workgroup (i, 0) sums only the first run of ceil(chunks / S) chunks', async () => {
    // The sums are the same whether or not the work is split, so a kernel that ignored S (every
    // workgroup (i, 0) over the whole row, the others over nothing) would pass the tests above.
    // One more dispatch of only the workgroups (i, 0) must add W[:, run 0] x: the first
    // ceil(chunks / S) chunks (Q4_K chunks are 64 consecutive elements). Bound: every term
    // passes through at most twice the split-K depth, and run 0's terms are counted twice.
    const rng = new Rng(904);
    const k = 12 * 256; // 48 chunks: runs of 12 (S = 4)
    const tw = makeWeight(GgmlType.Q4_K, 37, k, rng);
    const x = rng.fill(k);
    const y0 = rng.fill(37, -10, 10);
    const kern = kernel(tw.type, { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: false, splitK: 4 });
    const weight = uploadTestWeight(gpu.device, tw);
    const got = await runOnce(gpu.device, [x], y0, (pass, [xb], yb) => {
      const params = kern.createParams(tw.k, tw.rows, 0, true);
      kern.encode(pass, kern.bind(weight, xb, yb, params), tw.rows);
      pass.dispatchWorkgroups(kern.workgroups(tw.rows), 1);
      return [params];
    });
    destroyWeight(weight);
    const runElems = 12 * 64;
    const ref = matvecRef(tw.w, x, tw.rows, tw.k, y0);
    const w0 = new Float32Array(tw.rows * runElems);
    for (let r = 0; r < tw.rows; r++) w0.set(tw.w.subarray(r * k, r * k + runElems), r * runElems);
    const twice = ref.map((v, r) => v + matvecRef(w0, x.subarray(0, runElems), tw.rows, runElems)[r]);
    const depth = 2 * (splitKDepth(tw.type, k, 64, null, 4) + 1);
    const report = checkBounds(got, twice, splitKY0Bound(errorBounds(tw, x, depth, twice), y0, 5));
    expect(report.ok, describeBounds(report)).toBe(true);
  });

  it('a flipped nibble bit fails the bound in split-K too, by a wide margin', async () => {
    const rng = new Rng(903);
    const tw = makeWeight(GgmlType.Q4_K, 8, 3072, rng);
    const x = rng.fill(3072);
    const y0 = rng.fill(8, -10, 10);
    x[7 * 256 + 104] = 1; // row 5, block 7, qs byte 40's high nibble (see matvec.test.ts)
    const bad = tw.raw.slice();
    bad[5 * 12 * 144 + 7 * 144 + 16 + 40] ^= 0x80;
    const w = uploadRepacked(gpu.device, repack(tw.type, tw.k, bad));
    for (const o of shapesFor(GgmlType.Q4_K)) {
      const kern = kernel(tw.type, o);
      const report = judge(kern, tw, x, await runSplit(kern, [{ weight: w, rowOffset: 0 }], x, y0), y0);
      expect(report.bad).toBe(1);
      expect(report.worstRatio).toBeGreaterThan(10);
    }
    destroyWeight(w);
  });
});

describe('matvec split-K: what it refuses', () => {
  it('S outside 2, 4, 8, a normOut hand-off, the fused-norm kernels (gemvVariantValid and the constructors agree)', () => {
    const cases: [keyof typeof kinds, MatvecOptions & { normOut?: boolean }, RegExp][] = [
      ['matvec', { splitK: 3 }, /split-K factor 3 is not one of 1, 2, 4, 8/],
      ['matvec', { splitK: 16 }, /split-K factor 16/],
      ['matvec', { splitK: 2, normOut: true }, /no split-K: a normOut matvec hands its rows on/],
      ['normMatvec', { splitK: 2 }, /norm_matvec: no split-K/],
      ['swigluMatvec', { splitK: 2 }, /swiglu_matvec: no split-K/],
    ];
    for (const [kind, o, why] of cases) {
      expect(gemvVariantValid(gpu.device, kind, o)).toMatch(why);
      expect(() => kinds[kind](o)).toThrow(why);
    }
    for (const o of [...shapesFor(GgmlType.Q4_K), { splitK: 1 }]) expect(gemvVariantValid(gpu.device, 'matvec', o)).toBeNull();
  });

  it('overwriting y (params without accumulate): split-K only adds', () => {
    const kern = kernel(GgmlType.Q4_K, { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: false, splitK: 2 });
    expect(() => kern.createParams(256, 4, 0, false)).toThrow(/a split-K matvec adds to y \(accumulate\)/);
  });
});

const kinds = {
  matvec: (o: MatvecOptions & { normOut?: boolean }) => new MatvecKernel(gpu.device, 'Q4_K', o),
  normMatvec: (o: MatvecOptions) => new NormMatvecKernel(gpu.device, 'Q4_K', o),
  swigluMatvec: (o: MatvecOptions) => new SwigluMatvecKernel(gpu.device, 'Q4_K', o),
};
