import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { compareArrays, describeReport } from '../util/compare.ts';
import { GegeluKernel } from './gegelu.ts';
import { gegeluRef } from './gegelu.ref.ts';

// Tolerance from f32 arithmetic (u = 2^-24), with |g| <= limit = 20 after the clamp, so
// |s| = |1.702 g| <= 34: the bias add rounds once on both sides (the reference rounds it too);
// s = 1.702 * g rounds once, and 1.702 itself is an f32 (u/2), which moves exp's argument by
// ~1.5 |s| u; WGSL's exp may be off by 3 + 2|s| ulp; the sigmoid's division 2.5 ulp; the two
// products 1 each: relative (3 + 3.5 |s| + 5) u <= 127 u ~ 7.6e-6 on h. (l + 1) loses digits
// near l = -1: its absolute error u |l| <= 20 u times |g sigmoid| <= 20 is 2.4e-5 absolute.
// rtol 1e-5, atol 3e-5; a wrong half, bias or clamp moves h by > 1e-1.
const RTOL = 1e-5;
const ATOL = 3e-5;

const gpu = gpuForTests();
let device: GPUDevice;
let kernel: GegeluKernel;
beforeAll(() => {
  device = gpu.device;
  kernel = new GegeluKernel(device);
});

async function run(k: GegeluKernel, gu: Float32Array, b: Float32Array, M: number, ffn: number, limit: number): Promise<Float32Array> {
  const guBuf = uploadStorage(device, gu, 'gu');
  const bBuf = uploadStorage(device, b, 'b');
  const h = createStorage(device, M * ffn * 4, 'h');
  const params = k.createParams(ffn, limit);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass, k.bind(guBuf, bBuf, h, params), ffn, M);
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = new Float32Array(await readBuffer(device, h, M * ffn * 4));
  for (const buf of [guBuf, bBuf, h, params]) buf.destroy();
  return out;
}

async function check(M: number, ffn: number, seed: number, k = kernel, limit = 20) {
  const rng = new Rng(seed);
  // beyond the limit on both sides, so both clamps act
  const gu = rng.fill(M * 2 * ffn, -30, 30);
  const b = rng.fill(2 * ffn, -1, 1);
  const report = compareArrays(await run(k, gu, b, M, ffn, limit), gegeluRef(gu, b, M, ffn, limit), ATOL, RTOL);
  expect(report.ok, describeReport(report)).toBe(true);
}

describe('gegelu kernel vs CPU reference', () => {
  it('fixed case: gelu half first, then the linear half, each with its bias; the clamps', async () => {
    // g = gu + b = [0, 1, 25 -> 5 (limit), -2], l = [1, -1, 9 -> 5, -9 -> -5]
    const gu = new Float32Array([0, 0.5, 24, -1, 1, -2, 10, -8]);
    const b = new Float32Array([0, 0.5, 1, -1, 0, 1, -1, -1]);
    const got = await run(kernel, gu, b, 1, 4, 5);
    const gelu = (g: number) => g / (1 + Math.exp(-1.702 * g));
    const want = [0, gelu(1) * 0, gelu(5) * 6, gelu(-2) * -4];
    for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(want[i], 5);
  });

  it('very negative gates stay finite and go to 0 (only the upper side is clamped)', async () => {
    const gate = [-1e30, -1e6, -100, -60];
    const gu = new Float32Array([...gate, ...gate.map(() => 1)]);
    const got = await run(kernel, gu, new Float32Array(8), 1, 4, 20);
    for (let i = 0; i < 4; i++) {
      expect(Number.isFinite(got[i]), `gegelu(${gate[i]}) = ${got[i]}`).toBe(true);
      expect(Math.abs(got[i])).toBeLessThan(1e-30);
    }
  });

  it('Phi-3-small ffn width, several rows', () => check(3, 14336, 1));

  it('ffn not a multiple of the workgroup size, and smaller than it', async () => {
    await check(5, 1000, 2);
    await check(2, 1, 3);
    await check(9, 257, 4, kernel, 7.5);
  });

  it('random shapes and workgroup sizes', async () => {
    const rng = new Rng(5);
    for (let t = 0; t < 6; t++) {
      const k = t % 2 ? kernel : new GegeluKernel(device, [32, 64, 128][t % 3]);
      await check(rng.int(1, 40), rng.int(1, 3000), 100 + t, k);
    }
  });
});
