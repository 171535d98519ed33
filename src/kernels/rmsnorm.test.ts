import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { Rng } from '../util/rng.ts';
import { compareArrays, describeReport } from '../util/compare.ts';
import { RmsNormKernel, runRmsNorm } from './rmsnorm.ts';
import { rmsnormRef } from './rmsnorm.ref.ts';

// Tolerance from f32 arithmetic: the GPU sums n squares in f32 (n/WG strided terms per thread,
// then a log2(WG)-deep tree), relative error <= (n/WG + log2 WG) * 2^-24 ~ 2.4e-6 at n = 8192;
// inverseSqrt adds <= 2 ulp, the two products 1 ulp each. The reference sums in f64.
// rtol = 1e-5 covers that with margin, and is ~1000x below what any indexing or scale bug gives.
const RTOL = 1e-5;
const ATOL = 1e-7;

const gpu = gpuForTests();
let kernel: RmsNormKernel;
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
  kernel = new RmsNormKernel(device);
});

async function check(rows: number, n: number, eps: number, seed: number) {
  const rng = new Rng(seed);
  const x = rng.fill(rows * n, -4, 4);
  const w = rng.fill(n, 0.5, 1.5);
  const got = await runRmsNorm(kernel, x, w, rows, n, eps);
  const report = compareArrays(got, rmsnormRef(x, w, rows, n, eps), ATOL, RTOL);
  expect(report.ok, describeReport(report)).toBe(true);
}

describe('rmsnorm kernel vs CPU reference', () => {
  it('fixed case', async () => {
    // x = [1, 2, 3, 4], w = [1, 1, 2, 0.5]: mean(x^2) = 7.5, scale = 1/sqrt(7.5 + 1e-5)
    const x = new Float32Array([1, 2, 3, 4]);
    const w = new Float32Array([1, 1, 2, 0.5]);
    const got = await runRmsNorm(kernel, x, w, 1, 4, 1e-5);
    const s = 1 / Math.sqrt(7.5 + 1e-5);
    const want = [1 * s, 2 * s, 6 * s, 2 * s];
    for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(want[i], 6);
  });

  it('Phi-3 hidden size, several rows', () => check(5, 3072, 1e-5, 1));

  it('n not a multiple of the workgroup size, and smaller than it', async () => {
    await check(3, 1000, 1e-5, 2);
    await check(7, 33, 1e-6, 3);
    await check(1, 1, 1e-5, 4);
  });

  it('random shapes', async () => {
    const rng = new Rng(42);
    for (let t = 0; t < 12; t++) await check(rng.int(1, 9), rng.int(1, 5000), 1e-5, 100 + t);
  });

  it('other workgroup sizes give the same result', async () => {
    for (const wg of [32, 64, 128]) {
      const k = new RmsNormKernel(device, wg);
      const rng = new Rng(wg);
      const x = rng.fill(3 * 777);
      const w = rng.fill(777);
      const got = await runRmsNorm(k, x, w, 3, 777, 1e-5);
      const report = compareArrays(got, rmsnormRef(x, w, 3, 777, 1e-5), ATOL, RTOL);
      expect(report.ok, describeReport(report)).toBe(true);
    }
  });
});

describe('Dawn stays up under many submits', () => {
  // The GPU object from create() must outlive every device (src/gpu/node.ts); when it was
  // collectable, processes died after a few dozen submits. Churn memory to invite the GC.
  it('300 submit + readback cycles in one process', async () => {
    const rng = new Rng(9);
    const x = rng.fill(2 * 512);
    const w = rng.fill(512);
    const ref = rmsnormRef(x, w, 2, 512, 1e-5);
    let junk: ArrayBuffer[] = [];
    for (let i = 0; i < 300; i++) {
      junk.push(new ArrayBuffer(1 << 20));
      if (junk.length > 64) junk = [];
      const got = await runRmsNorm(kernel, x, w, 2, 512, 1e-5);
      if (i % 50 === 0) expect(compareArrays(got, ref, ATOL, RTOL).ok).toBe(true);
    }
  });
});
