import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { compareArrays, describeReport } from '../util/compare.ts';
import { SiluMulKernel } from './silu_mul.ts';
import { siluMulRef } from './silu_mul.ref.ts';

// Tolerance from f32 arithmetic, relative to the result (u = 2^-24): exp(-|g|) may be off by
// 3 + 2|g| ulp (WGSL's bound), which moves sigmoid by at most as much relatively; the division,
// the product with g and the product with up round once each (division 2.5 ulp in WGSL).
// So rtol = (3 + 2 |g|max + 5) u: with |g| <= 12 below that is 32 u ~ 1.9e-6; we take 2e-6.
// atol covers results that underflow toward 0 (silu(-12) * up ~ 7e-5, far above it).
const RTOL = 2e-6;
const ATOL = 1e-30;

const gpu = gpuForTests();
let device: GPUDevice;
let kernel: SiluMulKernel;
beforeAll(() => {
  device = gpu.device;
  kernel = new SiluMulKernel(device);
});

async function run(k: SiluMulKernel, gu: Float32Array, M: number, ffn: number): Promise<Float32Array> {
  const guBuf = uploadStorage(device, gu, 'gu');
  const h = createStorage(device, M * ffn * 4, 'h');
  const params = k.createParams(ffn);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass, k.bind(guBuf, h, params), ffn, M);
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = new Float32Array(await readBuffer(device, h, M * ffn * 4));
  for (const b of [guBuf, h, params]) b.destroy();
  return out;
}

async function check(M: number, ffn: number, seed: number, k = kernel) {
  const rng = new Rng(seed);
  const gu = rng.fill(M * 2 * ffn, -12, 12);
  const report = compareArrays(await run(k, gu, M, ffn), siluMulRef(gu, M, ffn), ATOL, RTOL);
  expect(report.ok, describeReport(report)).toBe(true);
}

describe('silu_mul kernel vs CPU reference', () => {
  it('fixed case: gate first, then up', async () => {
    // gate = [0, 1, -1, 3], up = [5, 2, 2, -1]: silu(1) = 1 / (1 + e^-1) = 0.7310585786...
    const gu = new Float32Array([0, 1, -1, 3, 5, 2, 2, -1]);
    const got = await run(kernel, gu, 1, 4);
    const silu = (x: number) => x / (1 + Math.exp(-x));
    const want = [0, 2 * silu(1), 2 * silu(-1), -silu(3)];
    for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(want[i], 6);
    expect(got[1]).toBeCloseTo(1.4621171572600098, 6);
  });

  it('extreme gates stay finite: silu(x) -> 0 for x << 0, -> x for x >> 0', async () => {
    const gate = [-1000, -100, -89, -88, 88, 89, 100, 1000];
    const gu = new Float32Array([...gate, ...gate.map(() => 1)]);
    const got = await run(kernel, gu, 1, gate.length);
    for (let i = 0; i < gate.length; i++) {
      expect(Number.isFinite(got[i]), `silu(${gate[i]}) = ${got[i]}`).toBe(true);
      if (gate[i] < 0) expect(Math.abs(got[i])).toBeLessThan(1e-30);
      else expect(got[i]).toBe(gate[i]);
    }
  });

  it('Phi-3 ffn width, several rows', () => check(3, 8192, 1));

  it('ffn not a multiple of the workgroup size, and smaller than it', async () => {
    await check(5, 1000, 2);
    await check(2, 1, 3);
    await check(9, 257, 4);
  });

  it('random shapes and workgroup sizes', async () => {
    const rng = new Rng(5);
    for (let t = 0; t < 6; t++) {
      const k = t % 2 ? kernel : new SiluMulKernel(device, [32, 64, 128][t % 3]);
      await check(rng.int(1, 40), rng.int(1, 3000), 100 + t, k);
    }
  });
});
