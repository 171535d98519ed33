/**
 * Decode GEMV on the GPU (src/kernels/matvec.ts) against the CPU reference on the weights that
 * src/model/quant dequantizes bit-exactly like llama.cpp: the only legitimate difference is f32
 * summation order, bounded rigorously per output by errorBounds() (test-weights.ts):
 *   |gpu - ref| <= depth * 2^-24 * sum_i (|w_i| + 2|off_i|) |x_i| + 2^-23 |ref|,
 * depth = the longest rounding path of the kernel (16 in a chunk + chunks per thread + the
 * reduction: 24 for Q4_K at k = 3072, 64 threads, tree). That is ~1.4e-6 of the magnitude sum;
 * a decoding bug (a wrong shift, scale or block index) changes a whole run of elements, i.e.
 * >= 1e-2 of it, and even ONE wrong nibble bit at an element with x = 1 moves an output by
 * ~1e-3 of it: the last tests corrupt single bits and check that the bound catches them.
 * Observed errors use ~1e-3..1e-2 of the bound.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { MatvecKernel } from './matvec.ts';
import type { MatvecOptions } from './matvec.ts';
import { matvecRef } from './matvec.ref.ts';
import { destroyWeight } from './weight-formats.ts';
import { GgmlType, dequantize } from '../model/quant/index.ts';
import { repack } from '../model/repack.ts';
import { Rng } from '../util/rng.ts';
import { decodeTuning } from './tuning.ts';
import { gemvVariantValid } from './gemv.ts';
import {
  ALL_TYPES, checkBounds, describeBounds, errorBounds, formatOf, kStep, kernelCache, makeWeight, matvecDepth, rowGroupShapes, rowGroupShapesFor, runOnce,
  uploadRepacked, uploadTestWeight, uploadTestWeightParts,
} from './test-weights.ts';
import type { BoundReport, TestWeight, WeightPart } from './test-weights.ts';

const gpu = gpuForTests();

const kernel = kernelCache((type, opts: MatvecOptions) => new MatvecKernel(gpu.device, formatOf(type), opts));

/** y = W x (or yInit + W x when accumulating), each part writing its rows at its row offset. */
function runMatvec(kern: MatvecKernel, parts: readonly WeightPart[], x: Float32Array, yInit: Float32Array, accumulate = false): Promise<Float32Array> {
  return runOnce(gpu.device, [x], yInit, (pass, [xb], yb) =>
    parts.map(({ weight, rowOffset }) => {
      const params = kern.createParams(weight.k, weight.rows, rowOffset, accumulate);
      kern.encode(pass, kern.bind(weight, xb, yb, params), weight.rows);
      return params;
    }),
  );
}

/** `got` from `kern` against the reference W x (+ y0) and its error bound. */
function judge(kern: MatvecKernel, tw: TestWeight, x: Float32Array, got: Float32Array, y0?: Float32Array): BoundReport {
  const ref = matvecRef(tw.w, x, tw.rows, tw.k, y0);
  // The rounding depth sees only the threads that share a row: the whole workgroup, or a row
  // group's lanes (lanesPerRow = workgroupSize by default): ceil(chunks / lanes) adds per lane,
  // then the reduction over the lanes (tree: log2(lanes); a group within one subgroup: at most
  // lanes - 1 adds, which matvecDepth's subgroup term, sg max - 1 + 1, covers).
  const depth = matvecDepth(tw.type, tw.k, kern.lanesPerRow, kern.subgroups ? gpu.subgroupSizes : null);
  return checkBounds(got, ref, errorBounds(tw, x, depth, ref));
}

/**
 * GPU vs reference for one weight, split at `cuts` when given, accumulating onto y0 when given.
 * Returns the worst err/bound ratio.
 */
async function check(tw: TestWeight, x: Float32Array, opts: MatvecOptions = {}, cuts?: number[], y0?: Float32Array): Promise<number> {
  const parts = cuts ? uploadTestWeightParts(gpu.device, tw, cuts) : [{ weight: uploadTestWeight(gpu.device, tw), rowOffset: 0 }];
  const init = y0 ?? new Float32Array(tw.rows).fill(NaN); // NaN: a row the kernel never writes fails
  const got = await runMatvec(kernel(tw.type, opts), parts, x, init, y0 !== undefined);
  for (const p of parts) destroyWeight(p.weight);
  const report = judge(kernel(tw.type, opts), tw, x, got, y0);
  expect(report.ok, `${formatOf(tw.type)} ${tw.rows}x${tw.k} ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

const TREE_TOO: GgmlType[] = [GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16];

describe('matvec: every weight type vs the CPU reference', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: random shapes, rows and k off the tiles', async (_name, type) => {
    const rng = new Rng(100 + type);
    let worst = 0;
    for (let t = 0; t < 4; t++) {
      // rows never a multiple of the 16-row tile (some below it); k a few blocks, not a multiple of workgroup * chunk
      const rows = 4 * rng.int(0, 12) + rng.int(1, 3);
      const k = kStep(type) * rng.int(1, type === GgmlType.F32 || type === GgmlType.F16 || type === GgmlType.BF16 ? 200 : 7);
      const tw = makeWeight(type, rows, k, rng);
      const x = rng.fill(k);
      worst = Math.max(worst, await check(tw, x));
      // The reductions are shared by all formats: the other one (the workgroup tree, when the
      // default uses subgroups) on three formats is enough, and saves a JIT per format.
      if (gpu.hasSubgroups() && TREE_TOO.includes(type)) worst = Math.max(worst, await check(tw, x, { subgroups: false }));
    }
    console.log(`matvec ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 row length (k = 3072) and a long one (k = 8192) for the int4 formats', async () => {
    const rng = new Rng(7);
    for (const type of [GgmlType.Q4_K, GgmlType.Q4_0, GgmlType.Q6_K]) {
      for (const k of [3072, 8192]) await check(makeWeight(type, 21, k, rng), rng.fill(k));
    }
  });
});

describe('matvec: fixed hand-checked cases', () => {
  it('Q4_0: d = 0.5, qs[j] = j | (15 - j) << 4, x = 1 (first 16), 2 (last 16) -> -12', async () => {
    // low nibbles: (j - 8) * 0.5 for elements j; high: (7 - j) * 0.5 for elements 16 + j
    // y = 0.5 * (sum_j (j - 8) + 2 * sum_j (7 - j)) = 0.5 * (-8 - 16) = -12
    const raw = new Uint8Array(18);
    raw[0] = 0x00;
    raw[1] = 0x38; // f16 0.5
    for (let j = 0; j < 16; j++) raw[2 + j] = j | ((15 - j) << 4);
    const x = new Float32Array(32).fill(1, 0, 16).fill(2, 16);
    const w = uploadRepacked(gpu.device, repack(GgmlType.Q4_0, 32, raw));
    for (const subgroups of gpu.hasSubgroups() ? [false, true] : [false]) {
      const got = await runMatvec(kernel(GgmlType.Q4_0, { subgroups }), [{ weight: w, rowOffset: 0 }], x, new Float32Array(1));
      expect(got[0]).toBe(-12);
    }
    destroyWeight(w);
  });

  it('Q4_K: d = 1, dmin = 0.5, sc = 1..8, m = 0..7, low nibbles 1, high nibbles 2, x = 1 -> 1344', async () => {
    // sub-block j has q = 1 (even j: low nibbles) or 2 (odd j); y = 32 * sum_j (sc_j q_j - 0.5 m_j)
    //   = 32 * ((1 + 4 + 3 + 8 + 5 + 12 + 7 + 16) - 0.5 * 28) = 32 * 42 = 1344.
    // Sub-blocks 4..7 use the packed upper half of scales[12]: the j >= 4 path of get_scale_min_k4.
    const raw = new Uint8Array(144);
    raw.set([0x00, 0x3c, 0x00, 0x38], 0); // d = 1, dmin = 0.5
    const sc = [1, 2, 3, 4, 5, 6, 7, 8];
    const m = [0, 1, 2, 3, 4, 5, 6, 7];
    for (let j = 0; j < 4; j++) {
      raw[4 + j] = sc[j];
      raw[8 + j] = m[j];
      raw[12 + j] = sc[j + 4] | (m[j + 4] << 4);
    }
    raw.fill(0x21, 16);
    const x = new Float32Array(256).fill(1);
    expect(matvecRef(dequantize(GgmlType.Q4_K, raw, 256), x, 1, 256)[0]).toBe(1344); // the codec agrees
    const w = uploadRepacked(gpu.device, repack(GgmlType.Q4_K, 256, raw));
    for (const subgroups of gpu.hasSubgroups() ? [false, true] : [false]) {
      const got = await runMatvec(kernel(GgmlType.Q4_K, { subgroups }), [{ weight: w, rowOffset: 0 }], x, new Float32Array(1));
      expect(got[0]).toBe(1344);
    }
    destroyWeight(w);
  });
});

describe('matvec: options', () => {
  it('accumulate: y = y0 + W x, for every type', async () => {
    const rng = new Rng(11);
    for (const type of ALL_TYPES) {
      const k = kStep(type) * (kStep(type) === 8 ? 40 : 2);
      const tw = makeWeight(type, 13, k, rng);
      await check(tw, rng.fill(k), {}, undefined, rng.fill(13, -10, 10));
    }
  });

  it('row-split tensor: parts write their own slices of y', async () => {
    const rng = new Rng(12);
    for (const type of ALL_TYPES) {
      const k = kStep(type) * (kStep(type) === 8 ? 24 : 2);
      const tw = makeWeight(type, 23, k, rng);
      await check(tw, rng.fill(k), {}, [0, 5, 6, 17, 23]);
      await check(tw, rng.fill(k), {}, [0, 11, 23], rng.fill(23));
    }
  });

  it('other workgroup sizes and rows per workgroup give the same results', async () => {
    const rng = new Rng(13);
    // both reductions where the gpu.device has subgroups
    const sg = (o: MatvecOptions, i: number): MatvecOptions => ({ ...o, subgroups: gpu.hasSubgroups() && i % 2 === 0 });
    const shapes: MatvecOptions[] = [
      { workgroupSize: 32, rowsPerWorkgroup: 1 },
      { workgroupSize: 128, rowsPerWorkgroup: 3 },
      { workgroupSize: 256, rowsPerWorkgroup: 8 },
      { workgroupSize: 16, rowsPerWorkgroup: 5 },
      // 8 threads: what tuning.ts fitShape gives rows of at most 8 chunks (the test models' lm_head)
      { workgroupSize: 8, rowsPerWorkgroup: 8 },
    ].map(sg);
    // Q4_K through every shape, two more formats through one each (each new pipeline costs
    // ~1 s of JIT on a CPU driver).
    const cases: [GgmlType, MatvecOptions[]][] = [
      [GgmlType.Q4_K, shapes],
      [GgmlType.Q6_K, [shapes[3], shapes[4]]],
      [GgmlType.Q8_0, [shapes[1]]],
    ];
    for (const [type, opts] of cases) {
      const k = kStep(type) * (kStep(type) === 8 ? 100 : 3);
      const tw = makeWeight(type, 37, k, rng);
      const x = rng.fill(k);
      for (const o of opts) await check(tw, x, o);
    }
  });
});

describe('matvec: row groups (lanesPerRow)', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: row-group shapes (all for Q4_K), rows off the tiles, accumulate and split', async (_name, type) => {
    const rng = new Rng(500 + type);
    // k: several chunks per lane in the 16- and 32-lane groups (float types: 8-element chunks)
    const k = kStep(type) * (kStep(type) === 8 ? 160 : kStep(type) === 32 ? 40 : 5);
    // 37 rows: whole workgroups and a partial one in every shape; some workgroups' later groups
    // own rows past the end only
    const tw = makeWeight(type, 37, k, rng);
    let worst = 0;
    for (const o of rowGroupShapesFor(type, gpu.hasSubgroups() ? gpu.subgroupSizes.min : null)) {
      worst = Math.max(worst, await check(tw, rng.fill(k), o));
      if (type === GgmlType.Q4_K) {
        await check(tw, rng.fill(k), o, undefined, rng.fill(37, -10, 10));
        await check(tw, rng.fill(k), o, [0, 5, 21, 37], rng.fill(37));
      }
    }
    console.log(`matvec row groups ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 row length (k = 3072), Q4_K, 128 threads in 4 groups of 32', async () => {
    const rng = new Rng(17);
    await check(makeWeight(GgmlType.Q4_K, 21, 3072, rng), rng.fill(3072), { workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 4, subgroups: false });
  });

  it('a flipped nibble bit fails the bound in row groups too', async () => {
    const rng = new Rng(18);
    const tw = makeWeight(GgmlType.Q4_K, 8, 3072, rng);
    const x = rng.fill(3072);
    x[7 * 256 + 104] = 1; // row 5, block 7, qs byte 40's high nibble (see the last tests)
    const bad = tw.raw.slice();
    bad[5 * 12 * 144 + 7 * 144 + 16 + 40] ^= 0x80;
    const w = uploadRepacked(gpu.device, repack(tw.type, tw.k, bad));
    for (const o of rowGroupShapes(gpu.hasSubgroups() ? gpu.subgroupSizes.min : null).slice(0, 1)) {
      const kern = kernel(tw.type, o);
      const report = judge(kern, tw, x, await runMatvec(kern, [{ weight: w, rowOffset: 0 }], x, new Float32Array(tw.rows)));
      expect(report.bad).toBe(1);
      expect(report.worstRatio).toBeGreaterThan(10);
    }
    destroyWeight(w);
  });

  it('refuses shapes that cannot run, saying why (gemvVariantValid and the constructor agree)', () => {
    const cases: [MatvecOptions, RegExp][] = [
      [{ workgroupSize: 64, lanesPerRow: 24, rowsPerWorkgroup: 4 }, /lanes per row 24 is not a power of two dividing the workgroup size 64/],
      [{ workgroupSize: 64, lanesPerRow: 128, rowsPerWorkgroup: 4 }, /lanes per row 128/],
      // 4 groups, 2 rows: rows must be a multiple of the group count
      [{ workgroupSize: 64, lanesPerRow: 16, rowsPerWorkgroup: 2, subgroups: false }, /2 rows per workgroup do not split evenly over its 4 row groups of 16 lanes/],
    ];
    // a group wider than the adapter's smallest subgroup could straddle two of them
    if (gpu.hasSubgroups()) {
      const lanes = 2 * gpu.subgroupSizes.min;
      cases.push([{ workgroupSize: 128, lanesPerRow: lanes, rowsPerWorkgroup: 128 / lanes, subgroups: true }, /subgroups may have as few as/]);
    }
    for (const [o, why] of cases) {
      expect(gemvVariantValid(gpu.device, 'matvec', o)).toMatch(why);
      expect(() => new MatvecKernel(gpu.device, 'Q4_K', o)).toThrow(why);
    }
    for (const o of rowGroupShapes(gpu.hasSubgroups() ? gpu.subgroupSizes.min : null)) {
      expect(gemvVariantValid(gpu.device, 'matvec', o)).toBeNull();
      expect(gemvVariantValid(gpu.device, 'matvec', { ...o, normOut: true })).toBeNull();
    }
    expect(gemvVariantValid(gpu.device, 'matvec', {})).toBeNull();
  });
});

describe('matvec: shape checks', () => {
  it('refuses more rows per workgroup than threads (thread r writes row r)', () => {
    expect(() => new MatvecKernel(gpu.device, 'Q4_K', { workgroupSize: 8, rowsPerWorkgroup: 16 })).toThrow(/16 rows per workgroup need at least as many threads \(got 8\)/);
  });
});

describe('matvec: the per-adapter shapes of src/kernels/tuning.ts', () => {
  // Whatever adapter runs the tests, every shape tuning.ts can choose runs here, on the Q4_K_M
  // types at rows off the tiles (37 rows: 2 full 16-row workgroups and a partial one) and with
  // the row-split path; with and without subgroups where the gpu.device has them.
  const shapes = new Map<string, MatvecOptions>();
  for (const description of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'SwiftShader Device (Subzero)', 'NVIDIA GeForce RTX 4090']) {
    for (const sub of [false, true]) {
      const { matvec } = decodeTuning({ vendor: '', architecture: '', device: '', description }, sub);
      shapes.set(JSON.stringify(matvec), matvec);
    }
  }
  it.each([GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K].map((t) => [formatOf(t), t] as const))('%s', async (_name, type) => {
    const rng = new Rng(40 + type);
    const k = 3 * 256;
    const tw = makeWeight(type, 37, k, rng);
    for (const o of shapes.values()) {
      if (o.subgroups && !gpu.hasSubgroups()) continue;
      await check(tw, rng.fill(k), o);
      await check(tw, rng.fill(k), o, [0, 5, 21, 37], rng.fill(37));
    }
  });
});

describe('matvec: the tolerance catches real decoding errors', () => {
  // Run the GPU on corrupted bytes and judge it against the reference of the intact ones.
  async function corrupted(tw: TestWeight, x: Float32Array, mutate: (raw: Uint8Array) => void) {
    const bad = tw.raw.slice();
    mutate(bad);
    const w = uploadRepacked(gpu.device, repack(tw.type, tw.k, bad));
    const kern = kernel(tw.type);
    const got = await runMatvec(kern, [{ weight: w, rowOffset: 0 }], x, new Float32Array(tw.rows));
    destroyWeight(w);
    return judge(kern, tw, x, got);
  }

  it('one flipped nibble bit (Q4_K, k = 3072) fails the bound, by a wide margin', async () => {
    const rng = new Rng(14);
    const tw = makeWeight(GgmlType.Q4_K, 8, 3072, rng);
    const x = rng.fill(3072);
    // row 5, block 7, qs byte 40 = group 1, l = 8: its high nibble is element 7*256 + 64 + 32 + 8
    x[7 * 256 + 104] = 1;
    const report = await corrupted(tw, x, (raw) => (raw[5 * 12 * 144 + 7 * 144 + 16 + 40] ^= 0x80));
    expect(report.bad).toBe(1);
    expect(report.worstRatio).toBeGreaterThan(10);
  });

  it('one flipped low nibble bit (Q4_0, the smallest possible change: d * x) fails the bound', async () => {
    const rng = new Rng(16);
    const tw = makeWeight(GgmlType.Q4_0, 4, 3072, rng);
    const x = rng.fill(3072);
    x[50 * 32 + 3] = 1; // row 2, block 50, qs[3] low nibble = element 3 of the block
    const report = await corrupted(tw, x, (raw) => (raw[2 * 96 * 18 + 50 * 18 + 2 + 3] ^= 0x01));
    expect(report.bad).toBe(1);
    expect(report.worstRatio).toBeGreaterThan(3);
  });

  it('one flipped scale bit (Q6_K) fails the bound', async () => {
    const rng = new Rng(15);
    const tw = makeWeight(GgmlType.Q6_K, 4, 1024, rng);
    const x = rng.fill(1024);
    // row 2, block 1, scales[5] bit 2: sub-block 5 = elements 256 + 80 .. +16 scaled by 5 instead of 1
    const report = await corrupted(tw, x, (raw) => (raw[2 * 4 * 210 + 210 + 192 + 5] ^= 0x04));
    expect(report.bad).toBe(1);
    expect(report.worstRatio).toBeGreaterThan(10);
  });
});
