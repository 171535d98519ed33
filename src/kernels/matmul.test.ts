/**
 * Prefill GEMM on the GPU (src/kernels/matmul.ts) against the CPU reference, for every weight
 * type. The kernel dequantizes exactly (llama.cpp's values) and sums each token's products per
 * vec4, per 64-element k tile, then tile after tile: the bound of test-weights.ts with
 * depth = 24 + k/64 (72 at k = 3072: ~4.3e-6 of the magnitude sum), far below the ~1e-3 that
 * a single wrong weight bit or a wrong token row would give.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { MatmulKernel } from './matmul.ts';
import type { MatmulOptions } from './matmul.ts';
import type { BcastShape } from './matmul-bcast.ts';
import { matmulRef } from './matvec.ref.ts';
import { destroyWeight } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import { Rng } from '../util/rng.ts';
import {
  ALL_TYPES, checkBounds, describeBounds, errorBounds, formatOf, kStep, kernelCache, makeWeight, matmulDepth, runOnce, uploadTestWeight,
  uploadTestWeightParts,
} from './test-weights.ts';
import type { TestWeight, WeightPart } from './test-weights.ts';

const gpu = gpuForTests();

const kernel = kernelCache((type, opts: MatmulOptions) => new MatmulKernel(gpu.device, formatOf(type), opts));

/** Y [m, yStride] = X W^T (or yInit + X W^T when accumulating), each part writing its rows at its row offset. */
function runMatmul(kern: MatmulKernel, parts: readonly WeightPart[], x: Float32Array, m: number, yInit: Float32Array, accumulate = false): Promise<Float32Array> {
  const yStride = yInit.length / m;
  return runOnce(gpu.device, [x], yInit, (pass, [xb], yb) =>
    parts.map(({ weight, rowOffset }) => {
      const params = kern.createParams(weight.k, weight.rows, m, yStride, rowOffset, accumulate);
      kern.encode(pass, kern.bind(weight, xb, yb, params), weight.rows, m);
      return params;
    }),
  );
}

/**
 * GPU vs reference for m tokens; y is [m, yStride] with the weight's rows at column `col0`
 * (the rest must stay as initialised). Returns the worst err/bound ratio.
 */
async function check(tw: TestWeight, m: number, rng: Rng, opts: MatmulOptions = {}, cuts?: number[], accumulate = false): Promise<number> {
  const x = rng.fill(m * tw.k);
  const pad = 3; // extra columns on both sides: writes must land in [col0, col0 + rows) only
  const yStride = tw.rows + 2 * pad;
  const y0 = rng.fill(m * yStride, -5, 5);
  const parts = (cuts ? uploadTestWeightParts(gpu.device, tw, cuts) : [{ weight: uploadTestWeight(gpu.device, tw), rowOffset: 0 }]).map((p) => ({
    ...p,
    rowOffset: p.rowOffset + pad,
  }));
  const got = await runMatmul(kernel(tw.type, opts), parts, x, m, y0, accumulate);
  for (const p of parts) destroyWeight(p.weight);

  const init = new Float32Array(m * tw.rows);
  for (let t = 0; t < m; t++) init.set(y0.subarray(t * yStride + pad, t * yStride + pad + tw.rows), t * tw.rows);
  const ref = matmulRef(tw.w, x, tw.rows, tw.k, m, accumulate ? init : undefined);
  const inner = new Float32Array(m * tw.rows);
  for (let t = 0; t < m; t++) {
    inner.set(got.subarray(t * yStride + pad, t * yStride + pad + tw.rows), t * tw.rows);
    for (let c = 0; c < yStride; c++) {
      if (c >= pad && c < pad + tw.rows) continue;
      expect(got[t * yStride + c], `token ${t} column ${c} outside the weight's rows was written`).toBe(y0[t * yStride + c]);
    }
  }
  const report = checkBounds(inner, ref, errorBounds(tw, x, matmulDepth(tw.k), ref, m));
  expect(report.ok, `${formatOf(tw.type)} ${tw.rows}x${tw.k}, m = ${m}, ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

describe('matmul: every weight type vs the CPU reference', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: m in {1, 3, 8, 17}, rows and k off the tiles', async (_name, type) => {
    const rng = new Rng(200 + type);
    let worst = 0;
    for (const m of [1, 3, 8, 17]) {
      // rows not a multiple of the 32-row tile, m of the 16-token tile; k not a multiple of the 64-element k tile where the type allows
      const rows = rng.int(1, 150);
      const k = kStep(type) * rng.int(1, kStep(type) === 8 ? 100 : kStep(type) === 32 ? 20 : 4);
      worst = Math.max(worst, await check(makeWeight(type, rows, k, rng), m, rng));
    }
    console.log(`matmul ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 row length k = 3072 for Q4_K and Q6_K, 17 tokens', async () => {
    const rng = new Rng(21);
    for (const type of [GgmlType.Q4_K, GgmlType.Q6_K]) await check(makeWeight(type, 70, 3072, rng), 17, rng);
  });
});

describe('matmul: options', () => {
  it('accumulate: Y = Y0 + X W^T, for every type', async () => {
    const rng = new Rng(22);
    for (const type of ALL_TYPES) {
      const k = kStep(type) * (kStep(type) === 8 ? 36 : 2);
      await check(makeWeight(type, 19, k, rng), 5, rng, {}, undefined, true);
    }
  });

  it('row-split tensor: parts write their own columns of Y', async () => {
    const rng = new Rng(23);
    for (const type of ALL_TYPES) {
      const k = kStep(type) * (kStep(type) === 8 ? 20 : 1);
      const tw = makeWeight(type, 90, k, rng);
      await check(tw, 9, rng, {}, [0, 13, 70, 90]);
      await check(tw, 3, rng, {}, [0, 64, 90], true);
    }
  });

  it('other tile shapes (rows x tokens per workgroup) give the same results', async () => {
    const rng = new Rng(24);
    const tiles: MatmulOptions[] = [
      { rowsPerWorkgroup: 8, tokensPerWorkgroup: 4 },
      { rowsPerWorkgroup: 16, tokensPerWorkgroup: 8 },
      { rowsPerWorkgroup: 64, tokensPerWorkgroup: 4 },
    ];
    // each new pipeline costs ~1 s of JIT on a CPU driver: all tiles for Q4_K, one each for two more
    const cases: [GgmlType, MatmulOptions[]][] = [[GgmlType.Q4_K, tiles], [GgmlType.Q6_K, [tiles[1]]], [GgmlType.Q4_0, [tiles[2]]]];
    for (const [type, opts] of cases) {
      const k = kStep(type) * (kStep(type) === 32 ? 9 : 2);
      const tw = makeWeight(type, 45, k, rng);
      for (const o of opts) await check(tw, 17, rng, o);
    }
  });
});

/** The adapter's fixed subgroup size (the test adapter, lavapipe, has 8). */
function subgroupSize(): number {
  expect(gpu.hasSubgroups(), 'the broadcast GEMM needs the subgroups feature').toBe(true);
  const { min, max } = gpu.subgroupSizes;
  expect(min, 'the test adapter must report one subgroup size').toBe(max);
  return min;
}

// The broadcast GEMM (src/kernels/matmul-bcast.ts, CPU drivers): the same bound, its order of
// summation being shallower (16 FMAs, a horizontal sum, then tile after tile).
describe('matmul (broadcast, one subgroup per workgroup): vs the CPU reference', () => {
  const shape = (o: Partial<BcastShape> = {}): MatmulOptions => ({ bcast: { subgroupSize: subgroupSize(), rowsPerLane: 4, tokens: 8, ...o } });

  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: m in {1, 3, 8, 17}, rows and k off the tiles', async (_name, type) => {
    const rng = new Rng(300 + type);
    let worst = 0;
    for (const m of [1, 3, 8, 17]) {
      const rows = rng.int(1, 150);
      const k = kStep(type) * rng.int(1, kStep(type) === 8 ? 100 : kStep(type) === 32 ? 20 : 4);
      worst = Math.max(worst, await check(makeWeight(type, rows, k, rng), m, rng, shape()));
    }
    console.log(`matmul (broadcast) ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 shapes: k = 3072 for Q4_K, Q5_K and Q6_K, 17 tokens; accumulate; row-split parts', async () => {
    const rng = new Rng(31);
    for (const type of [GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]) {
      const tw = makeWeight(type, 70, 3072, rng);
      await check(tw, 17, rng, shape());
      await check(tw, 5, rng, shape(), undefined, true);
      await check(tw, 9, rng, shape(), [0, 13, 64, 70]);
    }
  });

  it('other shapes (fewer lanes, rows per lane, tokens) give the same results', async () => {
    const rng = new Rng(32);
    const sg = subgroupSize();
    // fewer lanes than the subgroup: the SwiftShader shape (4 lanes: 4 activation loads per lane per token) and the extremes
    const shapes: Partial<BcastShape>[] = [{ subgroupSize: Math.min(4, sg) }, { subgroupSize: 1, rowsPerLane: 3, tokens: 5 }, { rowsPerLane: 1, tokens: 1 }, { rowsPerLane: 2, tokens: 12 }];
    const tw = makeWeight(GgmlType.Q4_K, 45, 512, rng);
    for (const o of shapes) for (const m of [1, 13]) await check(tw, m, rng, shape(o));
    const tw8 = makeWeight(GgmlType.Q8_0, 37, 96, rng); // k not a multiple of the 64-element tile
    await check(tw8, 6, rng, shape({ subgroupSize: Math.min(4, sg), rowsPerLane: 3 }));
  });

  it('refuses shapes it cannot run', () => {
    const sg = subgroupSize();
    expect(() => new MatmulKernel(gpu.device, 'Q4_K', { bcast: { subgroupSize: 3, rowsPerLane: 4, tokens: 8 } })).toThrow(/bad shape/);
    expect(() => new MatmulKernel(gpu.device, 'Q4_K', { bcast: { subgroupSize: 8, rowsPerLane: 0, tokens: 8 } })).toThrow(/bad shape/);
    // wider than the adapter's smallest subgroup (lavapipe 8, SwiftShader 4)
    expect(() => new MatmulKernel(gpu.device, 'Q4_K', { bcast: { subgroupSize: 2 * sg, rowsPerLane: 4, tokens: 8 } })).toThrow(new RegExp(`as few as ${sg}\\b`));
  });
});
