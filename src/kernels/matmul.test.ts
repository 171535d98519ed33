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
import { REG_TILE_CANDIDATES, regTileThreads, regTileUnsupported, regTileWorkgroupBytes, type RegTileShape } from './matmul-reg.ts';
import { matmulRef } from './matvec.ref.ts';
import { destroyWeight } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import { Rng } from '../util/rng.ts';
import {
  ALL_TYPES, U, checkBounds, describeBounds, errorBounds, formatOf, kStep, kernelCache, makeWeight, matmulDepth, runOnce, uploadTestWeight,
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
  const reg = opts.bcast ? undefined : opts.regTile;
  // f16 tiles: activations that f16 holds exactly (multiples of 2^-10 in [-1, 1]), so that only the weights round
  const x = reg?.tile === 'f16' ? f16Activations(rng, m * tw.k) : rng.fill(m * tw.k);
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
  const depth = reg ? regDepth(tw.k) : matmulDepth(tw.k);
  const bounds = errorBounds(tw, x, depth, ref, m);
  if (reg?.tile === 'f16') addF16WeightBound(bounds, tw, x, m, depth);
  const report = checkBounds(inner, ref, bounds);
  expect(report.ok, `${formatOf(tw.type)} ${tw.rows}x${tw.k}, m = ${m}, ${JSON.stringify(opts)}: ${describeBounds(report)}`).toBe(true);
  return report.worstRatio;
}

/**
 * Depth for shaders/matmul_reg.wgsl: a vec4 dot product (a product, then at most 3 adds, fused
 * or not), then one add per vec4 of k into the thread's f32 sum (the zeros past k add nothing):
 * at most 4 + k / 4 roundings per term.
 */
const regDepth = (k: number): number => 4 + Math.ceil(k / 4);

/** n values n_i / 1024 with |n_i| <= 1024: 11 significant bits at most, exact in f16. */
function f16Activations(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(-1024, 1024) / 1024;
  return a;
}

/**
 * How far an f32 -> f16 conversion may move v: 0 when v is an f16; else WGSL lets it return
 * either neighbour, so less than the f16 spacing at |v|; below f16's normal range (2^-14) the
 * spacing is 2^-24, or v may be flushed to zero: max(|v|, 2^-24).
 */
function f16Error(v: number): number {
  const a = Math.abs(v);
  if (a === 0) return 0;
  if (a < 2 ** -14) return Math.max(a, 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // Math.log2 rounded across a power of two
  if (2 ** (e + 1) <= a) e++;
  const step = 2 ** (e - 10);
  return Number.isInteger(a / step) && a <= 65504 ? 0 : step;
}

/**
 * f16 tiles: the activations are exact (f16Activations), each weight w_i becomes w_i + d_i with
 * |d_i| < f16Error(w_i), and the products are then summed in f32 as in the f32 tiles. So the
 * bound gains sum_i f16Error(w_i) |x_i|, times (1 + depth u) for the f32 roundings of those
 * extra parts. The F16 weights are f16 already (and BF16 mostly): there this adds nothing and the
 * f32 bound applies as it is.
 */
function addF16WeightBound(bounds: Float64Array, tw: TestWeight, x: Float32Array, m: number, depth: number): void {
  const { rows, k, w } = tw;
  const dw = w.map(f16Error);
  for (let t = 0; t < m; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += dw[r * k + i] * Math.abs(x[t * k + i]);
      bounds[t * rows + r] += s * (1 + depth * U);
    }
  }
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

// The register-tiled GEMM (src/kernels/matmul-reg.ts, shaped for GPUs): f32 tiles everywhere;
// f16 tiles where the device has shader-f16 (lavapipe), refused where it does not (SwiftShader).
describe('matmul (register-tiled): vs the CPU reference', () => {
  const reg = (o: Partial<RegTileShape> = {}): MatmulOptions => ({ regTile: { rows: 64, tokens: 32, rowsPerThread: 4, tokensPerThread: 4, tile: 'f32', ...o } });
  const hasF16 = (): boolean => gpu.device.features.has('shader-f16');

  /** m in {1, 5, 64, 130} (off the token tiles and over two of them), rows and k off the tiles, accumulating for m = 5 and 130. */
  async function everyM(type: GgmlType, seed: number, opts: MatmulOptions): Promise<number> {
    const rng = new Rng(seed);
    let worst = 0;
    for (const m of [1, 5, 64, 130]) {
      const rows = rng.int(1, 150);
      const k = kStep(type) * rng.int(1, kStep(type) === 8 ? 60 : kStep(type) === 32 ? 12 : 3);
      worst = Math.max(worst, await check(makeWeight(type, rows, k, rng), m, rng, opts, undefined, m % 2 === 1));
    }
    return worst;
  }

  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s, f32 tiles: m in {1, 5, 64, 130}, accumulate on and off', async (_name, type) => {
    const worst = await everyM(type, 400 + type, reg());
    console.log(`matmul (register-tiled, f32) ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s, f16 tiles (shader-f16 only): m in {1, 5, 64, 130}, accumulate on and off', async (_name, type) => {
    const opts = reg({ tokens: 64, tile: 'f16' });
    if (!hasF16()) {
      expect(() => new MatmulKernel(gpu.device, formatOf(type), opts)).toThrow(/f16 tiles need the 'shader-f16' feature/);
      return;
    }
    const worst = await everyM(type, 500 + type, opts);
    console.log(`matmul (register-tiled, f16) ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Phi-3 shapes: k = 3072 for Q4_K and Q6_K, 130 tokens; row-split parts', async () => {
    const rng = new Rng(41);
    for (const type of [GgmlType.Q4_K, GgmlType.Q6_K]) {
      const tw = makeWeight(type, 70, 3072, rng);
      await check(tw, 130, rng, reg());
      await check(tw, 9, rng, reg(), [0, 13, 64, 70], true);
    }
  });

  it('other thread and workgroup tiles give the same results', async () => {
    const rng = new Rng(42);
    // 8-row and 8-token register tiles; tiles narrower than a subgroup; one thread per workgroup
    const shapes: Partial<RegTileShape>[] = [
      { rows: 64, tokens: 32, rowsPerThread: 8, tokensPerThread: 4 },
      { rows: 32, tokens: 64, rowsPerThread: 4, tokensPerThread: 8 },
      { rows: 16, tokens: 16, rowsPerThread: 8, tokensPerThread: 8 },
      { rows: 4, tokens: 4 },
    ];
    const tw = makeWeight(GgmlType.Q4_K, 45, 512, rng);
    const tw8 = makeWeight(GgmlType.Q8_0, 37, 96, rng); // k not a multiple of the 64-element tile
    for (const o of shapes) for (const m of [1, 13]) await check(tw, m, rng, reg(o), undefined, m === 13);
    // chunks of 32: two chunks per row in a k tile, and half a tile at the end (the narrow shapes stride most)
    for (const o of shapes.slice(2)) await check(tw8, 6, rng, reg(o));
  });

  it('every candidate shape this device can run gives the same results', async () => {
    const rng = new Rng(43);
    const tw = makeWeight(GgmlType.Q4_K, 70, 256, rng);
    for (const shape of REG_TILE_CANDIDATES) {
      // well formed for any GPU: 64..256 threads, at most 32 KiB of workgroup memory
      expect(regTileThreads(shape)).toBeGreaterThanOrEqual(64);
      expect(regTileThreads(shape)).toBeLessThanOrEqual(256);
      expect(regTileWorkgroupBytes(shape)).toBeLessThanOrEqual(32768);
      const why = regTileUnsupported(gpu.device, shape);
      if (shape.tile === 'f32') expect(why, JSON.stringify(shape)).toBeNull();
      if (why === null) await check(tw, 70, rng, { regTile: shape });
    }
  });

  it('walks the token tiles of one row tile first', () => {
    const k = new MatmulKernel(gpu.device, 'Q4_K', reg());
    expect(k.workgroups(130, 70)).toEqual([3, 3]);
    expect(k.workgroups(200, 5)).toEqual([1, 4]);
    expect(new MatmulKernel(gpu.device, 'Q4_K').workgroups(200, 5)).toEqual([7, 1]);
  });

  it('refuses shapes it cannot run, and says why', () => {
    const make = (o: Partial<RegTileShape>) => () => new MatmulKernel(gpu.device, 'Q4_K', reg(o));
    expect(make({ rowsPerThread: 3 })).toThrow(/must be 4 or 8/);
    expect(make({ rows: 60, rowsPerThread: 8 })).toThrow(/60 rows per workgroup is not a positive multiple of 8/);
    expect(make({ tokens: 0 })).toThrow(/0 tokens per workgroup/);
    // 128 x 16 = 2048 threads: over lavapipe's 1024 and SwiftShader's 256
    expect(make({ rows: 512, tokens: 64 })).toThrow(/needs 2048 threads; this device allows/);
    // (256 rows + 32 tokens) x 17 vec4 x 16 B = 78336 B
    expect(make({ rows: 256, tokens: 32, rowsPerThread: 8, tokensPerThread: 8 })).toThrow(/needs 78336 B of workgroup memory/);
    // f16 tiles without shader-f16, whatever this device has
    const noF16 = { features: new Set<string>(), limits: gpu.device.limits };
    expect(regTileUnsupported(noF16, { rows: 64, tokens: 64, rowsPerThread: 4, tokensPerThread: 4, tile: 'f16' })).toMatch(/'shader-f16'/);
    expect(regTileUnsupported(noF16, { rows: 64, tokens: 32, rowsPerThread: 4, tokensPerThread: 4, tile: 'f32' })).toBeNull();
  });
});
