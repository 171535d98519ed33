import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { LogitMaskKernel, MASKED_LOGIT } from './logit_mask.ts';
import { logitMaskRef } from './logit_mask.ref.ts';
import { GREEDY, SampleKernel, runSample } from './sample.ts';
import type { SampleSettings } from './sample.ts';
import { sampleRef } from './sample.ref.ts';

// The mask stores one constant: the result must be bit-identical. The sampler over masked logits
// is then checked for what the mask is for: a masked id is never drawn (greedy, top-k, top-p, the
// full draw), and every reported logprob is finite.

const gpu = gpuForTests();
let device: GPUDevice;
let kernel: LogitMaskKernel;
beforeAll(() => {
  device = gpu.device;
  kernel = new LogitMaskKernel(device);
});

async function run(k: LogitMaskKernel, logits: Float32Array, ids: number[]): Promise<Float32Array> {
  const lb = uploadStorage(device, logits, 'logits');
  const mask = k.createMask(ids, logits.length);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass, k.bind(mask, lb), mask.count);
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = new Float32Array(await readBuffer(device, lb, logits.byteLength));
  for (const b of [lb, mask.ids, mask.params]) b.destroy();
  return out;
}

describe('logit_mask kernel vs CPU reference', () => {
  it('fixed case: the listed ids get MASKED_LOGIT, the rest are untouched', async () => {
    const got = await run(kernel, new Float32Array([1, 2, 3, 4, 5]), [4, 1]);
    expect([...got]).toEqual([1, Math.fround(MASKED_LOGIT), 3, 4, Math.fround(MASKED_LOGIT)]);
  });

  it('no ids: nothing dispatched, nothing changed', async () => {
    expect([...(await run(kernel, new Float32Array([1, 2]), []))]).toEqual([1, 2]);
  });

  it("Phi-3-small's vocabulary and dummy ids, and more ids than a workgroup", async () => {
    const rng = new Rng(3);
    const logits = rng.fill(100352, -20, 20);
    const dummy = [100256, 100258, 100259, 100260, 100264, 100265, ...Array.from({ length: 100351 - 100267 + 1 }, (_, i) => 100267 + i)];
    expect(await run(kernel, logits, dummy)).toEqual(logitMaskRef(logits, dummy));
    const many = Array.from({ length: 300 }, () => rng.int(0, 99));
    const small = rng.fill(100, -5, 5);
    expect(await run(new LogitMaskKernel(device, 32), small, many)).toEqual(logitMaskRef(small, many));
  });

  it('refuses an id outside the vocabulary (the kernel writes unchecked)', () => {
    expect(() => kernel.createMask([5], 5)).toThrow(/outside the vocabulary/);
  });
});

describe('the sampler over masked logits', () => {
  it('never draws a masked id, and reports finite logprobs (greedy, top-k, top-p, full draw, penalty)', async () => {
    const rng = new Rng(7);
    const vocab = 1000;
    const logits = rng.fill(vocab, -4, 4);
    // the masked ids include the best ones, so each setting would pick one of them unmasked
    const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a]);
    const ids = order.slice(0, 20);
    const masked = await run(kernel, logits, ids);
    const sampler = new SampleKernel(device);
    const cases: Partial<SampleSettings>[] = [
      {},
      { temperature: 1, topK: 40 },
      { temperature: 0.7, topP: 0.9 },
      { temperature: 1.3 },
      { temperature: 0.05, topK: 5 },
      { temperature: 1, repetitionPenalty: 1.3, penaltyWindow: 1 },
    ];
    const steps = cases.flatMap((c) => Array.from({ length: 8 }, (_, step) => ({ settings: { ...GREEDY, nTop: 40, seed: 11, ...c }, step })));
    const history = new Uint32Array([ids[0]]);
    const { results } = await runSample(sampler, masked, steps, history);
    const banned = new Set(ids);
    results.forEach((r, i) => {
      const what = `step ${i}: ${JSON.stringify(steps[i].settings)}`;
      expect(banned.has(r.id), what).toBe(false);
      for (const [id, lp] of r.top) {
        expect(Number.isFinite(lp), what).toBe(true);
        // 40 of 980 live logits outrank every masked one
        expect(banned.has(id), what).toBe(false);
      }
    });
    // the reference agrees on greedy, which has no near-ties here
    expect(results[0].id).toBe(sampleRef(masked, history, steps[0].settings, 0).id);
    expect(results[0].id).toBe(order[20]);
  });
});
