import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { BiasAddKernel } from './bias_add.ts';
import { biasAddRef } from './bias_add.ref.ts';

// y + b is one correctly rounded f32 addition on both sides: the result must be bit-identical.

const gpu = gpuForTests();
let device: GPUDevice;
let kernel: BiasAddKernel;
beforeAll(() => {
  device = gpu.device;
  kernel = new BiasAddKernel(device);
});

async function run(k: BiasAddKernel, y: Float32Array, b: Float32Array, M: number, n: number): Promise<Float32Array> {
  const bb = uploadStorage(device, b, 'b');
  const yb = uploadStorage(device, y, 'y');
  const params = k.createParams(n);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass, k.bind(bb, yb, params), n, M);
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = new Float32Array(await readBuffer(device, yb, M * n * 4));
  for (const buf of [bb, yb, params]) buf.destroy();
  return out;
}

async function check(M: number, n: number, seed: number, k = kernel) {
  const rng = new Rng(seed);
  const y = rng.fill(M * n, -100, 100);
  const b = rng.fill(n, -1, 1);
  expect(await run(k, y, b, M, n)).toEqual(biasAddRef(y, b, M, n));
}

describe('bias_add kernel vs CPU reference', () => {
  it('fixed case: the same bias on every row', async () => {
    const got = await run(kernel, new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([0.5, -2, 1]), 2, 3);
    expect([...got]).toEqual([1.5, 0, 4, 4.5, 3, 7]);
  });

  it('Phi-3-small QKV width, a prefill chunk of rows', () => check(37, 4096 + 2 * 1024, 1));

  it('n not a multiple of the workgroup size', async () => {
    await check(3, 1000, 2);
    await check(7, 1, 3);
    await check(1, 257, 4);
  });

  it('random shapes and workgroup sizes', async () => {
    const rng = new Rng(5);
    for (let t = 0; t < 4; t++) await check(rng.int(1, 20), rng.int(1, 4000), 100 + t, t % 2 ? kernel : new BiasAddKernel(device, 64));
  });
});
