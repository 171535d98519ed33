/** The picker's fit check: each limit, its reason in words, and which of them refuse a download. */
import { describe, expect, it } from 'vitest';
import { checkFit, deviceBudget } from './fit.ts';
import { gpuBytesNeeded } from './models.ts';

const GB = 1e9;
// Phi-3-medium 4k at 4096 positions: 8.57 GB of weights + 204,800 x 4096 = 0.84 GB of KV.
const MEDIUM = { downloadBytes: 8.57 * GB, gpuBytes: gpuBytesNeeded(8.57 * GB, 4096, 204_800), contextLength: 4096 };

describe('checkFit', () => {
  it('fits when the device says nothing, or says enough', () => {
    expect(checkFit(MEDIUM, {})).toEqual({ verdict: 'fits', reasons: [], advice: '' });
    expect(checkFit(MEDIUM, { freeStorage: 9 * GB, deviceMemoryGB: 16 })).toEqual({ verdict: 'fits', reasons: [], advice: '' });
  });

  it('refuses a download larger than the free storage, saying both sizes', () => {
    expect(checkFit(MEDIUM, { freeStorage: 3.1 * GB })).toEqual({
      verdict: 'will-not-fit',
      reasons: ['needs about 8.57 GB of storage; 3.10 GB free'],
      advice: 'Free some disk space, or delete a stored model (under Models), then choose it again.',
    });
    // exactly enough is enough
    expect(checkFit(MEDIUM, { freeStorage: 8.57 * GB }).verdict).toBe('fits');
    // what a paused download has stored is not needed again
    expect(checkFit({ ...MEDIUM, downloadBytes: 2 * GB }, { freeStorage: 3.1 * GB }).verdict).toBe('fits');
  });

  it('flags, without refusing, a GPU need above the reported RAM, and says 8 GB is the most a browser reports', () => {
    expect(MEDIUM.gpuBytes).toBe(8_570_000_000 + 838_860_800);
    expect(checkFit(MEDIUM, { deviceMemoryGB: 8 })).toEqual({
      verdict: 'may-not-fit',
      reasons: ['needs about 9.41 GB of GPU memory at a 4096-token context; this device reports 8 GB of RAM (browsers report at most 8 GB, so it may have more)'],
      advice: expect.stringMatching(/^It may still work: a graphics card with its own memory does not use this RAM/),
    });
    // Under the cap the number is the device's own (rounded down): no "may have more".
    expect(checkFit(MEDIUM, { deviceMemoryGB: 4 }).reasons).toEqual(['needs about 9.41 GB of GPU memory at a 4096-token context; this device reports 4 GB of RAM']);
    // deviceMemory counts GiB: 4 GB reported holds a 4.2e9-byte need (4 GiB = 4.29e9 bytes).
    expect(checkFit({ ...MEDIUM, gpuBytes: 4.2 * GB }, { deviceMemoryGB: 4 }).verdict).toBe('fits');
  });

  it('a smaller context can bring the GPU need under the reported RAM', () => {
    const at = (ctx: number) => ({ downloadBytes: 2.39 * GB, gpuBytes: gpuBytesNeeded(2.39 * GB, ctx, 393_216), contextLength: ctx });
    expect(checkFit(at(4096), { deviceMemoryGB: 2 }).verdict).toBe('may-not-fit'); // 4.00 GB
    expect(checkFit(at(4096), { deviceMemoryGB: 4 }).verdict).toBe('fits');
    expect(checkFit(at(131072), { deviceMemoryGB: 8 }).reasons[0]).toMatch(/^needs about 53\.9 GB of GPU memory at a 131072-token context;/);
  });

  it("refuses a context whose one-layer KV buffer exceeds the GPU's largest buffer, naming both sizes", () => {
    // Phi-3-mini at 131072 positions: 32 KV heads x 96 x 2 bytes x 131072 = 805 MB per layer's K.
    const long = { downloadBytes: 2.39 * GB, gpuBytes: 55 * GB, contextLength: 131072, kvLayerBytes: 393_216 / 32 / 2 * 131072 };
    expect(long.kvLayerBytes).toBe(805_306_368);
    expect(checkFit(long, { maxBufferBytes: 2 ** 27 })).toEqual({
      verdict: 'will-not-fit',
      reasons: ['needs buffers of 805 MB to remember a 131072-token context; this GPU allows at most 134 MB per buffer (a shorter context needs less)'],
      advice: 'Choose a shorter context length.',
    });
    expect(checkFit({ ...long, kvLayerBytes: 2 ** 27 }, { maxBufferBytes: 2 ** 27 }).verdict).toBe('fits');
    expect(checkFit(long, {}).verdict).toBe('fits'); // limits unknown
  });

  it('both limits: storage refuses, and both reasons are given, storage first', () => {
    const fit = checkFit(MEDIUM, { freeStorage: 3.1 * GB, deviceMemoryGB: 8 });
    expect(fit.verdict).toBe('will-not-fit');
    expect(fit.reasons).toHaveLength(2);
    expect(fit.reasons[0]).toMatch(/of storage/);
    expect(fit.reasons[1]).toMatch(/of GPU memory/);
    // the advice is for what refuses it; the memory warning's "may still work" would contradict it
    expect(fit.advice).toBe('Free some disk space, or delete a stored model (under Models), then choose it again.');
  });
});

describe('deviceBudget', () => {
  it('free storage is quota less usage (never negative); deviceMemory only when the browser gives a positive number', () => {
    expect(deviceBudget({ quota: 10 * GB, usage: 4 * GB }, 8)).toEqual({ freeStorage: 6 * GB, deviceMemoryGB: 8 });
    expect(deviceBudget({ quota: 1 * GB, usage: 2 * GB }, undefined)).toEqual({ freeStorage: 0 });
    expect(deviceBudget(undefined, 0.5)).toEqual({ deviceMemoryGB: 0.5 });
    expect(deviceBudget({ usage: 5 }, 'x')).toEqual({});
    expect(deviceBudget({ quota: Infinity }, -1)).toEqual({});
    expect(deviceBudget(undefined, undefined, { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 27 })).toEqual({ maxBufferBytes: 2 ** 27 });
    expect(deviceBudget(undefined, undefined, { maxBufferSize: 2 ** 28 })).toEqual({ maxBufferBytes: 2 ** 28 });
  });
});
