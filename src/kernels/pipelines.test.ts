import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { AddKernel } from './add.ts';
import { addRef } from './add.ref.ts';
import { Rng } from '../util/rng.ts';
import { compileCompute, compileInBackground } from '../gpu/pipelines.ts';

const gpu = gpuForTests();
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
});

async function runAdd(k: AddKernel, y: Float32Array, x: Float32Array, n: number): Promise<Float32Array> {
  const xb = uploadStorage(device, x, 'x');
  const yb = uploadStorage(device, y, 'y');
  const params = k.createParams(n);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass, k.bind(xb, yb, params), n, 1);
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = new Float32Array(await readBuffer(device, yb, n * 4));
  for (const b of [xb, yb, params]) b.destroy();
  return out;
}

const module = (code: string) => ({ layout: 'auto' as const, compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
const EMPTY = '@compute @workgroup_size(1) fn main() {}';

describe('kernel pipelines compiled now or in the background', () => {
  it('outside a scope a pipeline is ready at once', () => {
    expect(compileCompute(device, { label: 'now', ...module(EMPTY) }).get().label).toBe('now');
  });

  it('inside a scope it compiles in the background; the kernel is unusable until then, then computes the same', async () => {
    const n = 1000;
    const rng = new Rng(5);
    const x = rng.fill(n, -1, 1);
    const y = rng.fill(n, -100, 100);
    const { value: kernel, compiled } = compileInBackground(device, () => new AddKernel(device));
    // nothing can have resolved yet: the scope returned synchronously
    expect(() => kernel.pipeline).toThrow(/add: pipeline used before it finished compiling/);
    await compiled;
    expect(await runAdd(kernel, y, x, n)).toEqual(addRef(y, x));
    expect(await runAdd(kernel, y, x, n)).toEqual(await runAdd(new AddKernel(device), y, x, n));
  });

  it('the scope ends with build: pipelines made after it compile at once again', () => {
    compileInBackground(device, () => undefined);
    expect(() => compileCompute(device, { label: 'after', ...module(EMPTY) }).get()).not.toThrow();
  });

  it('a pipeline that fails to compile rejects `compiled` with its label, after the others settle', async () => {
    device.pushErrorScope('validation');
    const { compiled } = compileInBackground(device, () => [
      compileCompute(device, { label: 'fine', ...module(EMPTY) }),
      // the module has no entry point "main": pipeline creation fails
      compileCompute(device, { label: 'broken', layout: 'auto', compute: { module: device.createShaderModule({ code: '@compute @workgroup_size(1) fn other() {}' }), entryPoint: 'main' } }),
    ]);
    await expect(compiled).rejects.toThrow(/broken: the pipeline did not compile/);
    await device.popErrorScope();
  });

  it('scopes do not nest, and an error in build leaves no scope behind', () => {
    expect(() => compileInBackground(device, () => compileInBackground(device, () => 1))).toThrow(/do not nest/);
    expect(() =>
      compileInBackground(device, () => {
        throw new Error('build failed');
      }),
    ).toThrow('build failed');
    expect(() => compileCompute(device, { label: 'after error', ...module(EMPTY) }).get()).not.toThrow();
  });
});
