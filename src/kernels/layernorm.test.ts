import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { Rng } from '../util/rng.ts';
import { compareArrays, describeReport } from '../util/compare.ts';
import { LayerNormKernel, runLayerNorm } from './layernorm.ts';
import { layernormRef } from './layernorm.ref.ts';

// Tolerance from f32 arithmetic (u = 2^-24), for x = c + d with |c| <= 10, |d| <= 4 (std >= ~2):
// the GPU sums the n values in f32 (n/WG strided terms per thread, then a log2(WG)-deep tree), so
// |mean error| <= (n/WG + log2 WG) u * max|x|: (20 + 8) * 6e-8 * 14 ~ 2.3e-5 at n = 5000, which
// divided by the std (>= 2) moves the normalized value by ~1.2e-5 absolute, times w <= 1.5. The
// variance sums squares of the centred values (relative error of the same depth, ~1.7e-6, halved
// by the square root); inverseSqrt adds 2 ulp; the subtraction, the products and + b 1 ulp each of
// |y| <= ~5. So atol 3e-5 and rtol 1e-5; an indexing, mean or bias bug moves y by > 1e-2.
// The pending-bias add is one f32 addition on both sides: x must come back bit-identical.
const RTOL = 1e-5;
const ATOL = 3e-5;

const gpu = gpuForTests();
let kernel: LayerNormKernel;
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
  kernel = new LayerNormKernel(device);
});

async function check(rows: number, n: number, eps: number, seed: number, opts: { pre?: boolean; offset?: number; k?: LayerNormKernel } = {}) {
  const rng = new Rng(seed);
  const c = opts.offset ?? 0;
  const x = rng.fill(rows * n, c - 4, c + 4);
  const w = rng.fill(n, 0.5, 1.5);
  const b = rng.fill(n, -1, 1);
  const pre = opts.pre ? rng.fill(n, -1, 1) : undefined;
  const got = await runLayerNorm(opts.k ?? kernel, x, w, b, pre, rows, n, eps);
  const want = layernormRef(x, w, b, pre, rows, n, eps);
  const report = compareArrays(got.y, want.y, ATOL, RTOL);
  expect(report.ok, describeReport(report)).toBe(true);
  expect(got.x).toEqual(want.x);
}

describe('layernorm kernel vs CPU reference', () => {
  it('fixed case', async () => {
    // x = [1, 2, 3, 6]: mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5; w = [1, 2, 1, 1], b = [0, 0, 1, -1]
    const x = new Float32Array([1, 2, 3, 6]);
    const got = await runLayerNorm(kernel, x, new Float32Array([1, 2, 1, 1]), new Float32Array([0, 0, 1, -1]), undefined, 1, 4, 1e-5);
    const s = 1 / Math.sqrt(3.5 + 1e-5);
    const want = [-2 * s, -2 * s, 1, 3 * s - 1];
    for (let i = 0; i < 4; i++) expect(got.y[i]).toBeCloseTo(want[i], 6);
    expect([...got.x]).toEqual([1, 2, 3, 6]); // untouched without a pending bias
  });

  it('fixed case with a pending bias: x += pre in place, then the norm of the sum', async () => {
    const x = new Float32Array([1, 2, 3, 6, 0, 0, 0, 4]);
    const pre = new Float32Array([1, 0, -1, 0]);
    const got = await runLayerNorm(kernel, x, new Float32Array([1, 1, 1, 1]), new Float32Array(4), pre, 2, 4, 0);
    expect([...got.x]).toEqual([2, 2, 2, 6, 1, 0, -1, 4]);
    // row 0: [2, 2, 2, 6], mean 3, var 3: (x - 3) / sqrt(3)
    const s = 1 / Math.sqrt(3);
    for (const [i, v] of [-s, -s, -s, 3 * s].entries()) expect(got.y[i]).toBeCloseTo(v, 6);
  });

  it('Phi-3-small hidden size, several rows, with and without a pending bias', async () => {
    await check(3, 4096, 1e-5, 1);
    await check(4, 4096, 1e-5, 2, { pre: true });
  });

  it('rows off the mean: a common offset of 10', () => check(5, 3000, 1e-5, 3, { offset: 10, pre: true }));

  it('n not a multiple of the workgroup size, and smaller than it', async () => {
    await check(3, 1000, 1e-5, 4);
    await check(7, 33, 1e-6, 5, { pre: true });
    await check(2, 1, 1e-5, 6); // a single value normalizes to b
  });

  it('random shapes and workgroup sizes', async () => {
    const rng = new Rng(42);
    for (let t = 0; t < 8; t++) {
      const k = t % 2 ? kernel : new LayerNormKernel(device, [32, 64, 128, 256][(t / 2) % 4]);
      await check(rng.int(1, 9), rng.int(1, 5000), 1e-5, 100 + t, { pre: t % 3 === 0, k });
    }
  });
});
