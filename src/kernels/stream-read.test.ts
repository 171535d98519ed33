import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { StreamReadKernel, streamReadRef } from './stream-read.ts';

const gpu = gpuForTests();
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
});

// Integer sums wrap identically on both sides: the comparison is exact.
describe('stream_read kernel vs CPU sum', () => {
  for (const [words, wgs] of [[4, 1], [1000, 3], [1 << 18, 512], [123_456, 7]] as const) {
    it(`${words} words, ${wgs} workgroups`, async () => {
      const rng = new Rng(words);
      const data = new Uint32Array(words).map(() => rng.u32());
      const k = new StreamReadKernel(device, 256, wgs);
      const src = uploadStorage(device, data, 'src');
      const partials = k.createPartials();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      k.encode(pass, k.bind(src, partials));
      pass.end();
      device.queue.submit([enc.finish()]);
      const got = new Uint32Array(await readBuffer(device, partials));
      // uploadStorage pads to 16 bytes with zeros, which do not change the sum.
      expect(streamReadRef(got)).toBe(streamReadRef(data));
    });
  }
});
