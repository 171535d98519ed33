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
  // [words, workgroups, threads per workgroup, vec4 loads per iteration, blocked]: the defaults,
  // and the sweep's other shapes with word counts that leave a tail of fewer than VEC strides (or
  // no whole group at all: 1000 words with 64 x 8 threads and VEC 4), blocks that do not divide
  // the words, and more workgroups than words (empty blocks).
  const cases = [
    [4, 1, 256, 1],
    [1000, 3, 256, 1],
    [1 << 18, 512, 256, 1],
    [123_456, 7, 256, 1],
    [1000, 8, 64, 4],
    [123_456, 9, 64, 4],
    [(1 << 18) + 20, 256, 256, 4],
    [99_999, 4096, 64, 1],
    [77_777, 5, 128, 8],
    [1000, 3, 256, 1, true],
    [123_456, 7, 256, 1, true],
    [(1 << 18) + 20, 64, 256, 4, true],
    [99_999, 4096, 64, 1, true],
    [300, 64, 64, 2, true],
  ] as const;
  for (const [words, wgs, wg, vec, blocked = false] of cases) {
    it(`${words} words, ${wgs} workgroups of ${wg}, ${vec} loads per iteration${blocked ? ', blocked' : ''}`, async () => {
      const rng = new Rng(words);
      const data = new Uint32Array(words).map(() => rng.u32());
      const k = new StreamReadKernel(device, wg, wgs, vec, blocked);
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
      if (blocked) {
        // each workgroup's threads summed its own block of vec4 words, and nothing else
        const n4 = Math.ceil(words / 4);
        const per = Math.ceil(n4 / wgs);
        for (let w = 0; w < wgs; w++) {
          const block = data.subarray(Math.min(w * per * 4, words), Math.min((w + 1) * per * 4, words));
          expect(streamReadRef(got.subarray(w * wg, (w + 1) * wg)), `workgroup ${w}`).toBe(streamReadRef(block));
        }
      }
    });
  }
});
