/**
 * The roofline sweep (src/engine/stream-sweep.ts): which workgroup counts it tries, which trial
 * it picks, and a small sweep on the test device (every configuration timed once per run, the
 * best one among them, the bytes per timed read at least the minimum asked for). No timing
 * thresholds: the numbers depend on the machine's load.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { bestTrial, LEGACY_STREAM, shapeName, STREAM_SHAPES, StreamBench, sweepWorkgroupCounts, type StreamTrial } from './stream-sweep.ts';

const gpu = gpuForTests();

describe('sweepWorkgroupCounts', () => {
  it('powers of two from 64 to 8192 when the device and the buffer allow', () => {
    expect(sweepWorkgroupCounts(65535, 256, 1e9)).toEqual([64, 128, 256, 512, 1024, 2048, 4096, 8192]);
    expect(sweepWorkgroupCounts(65535, 64, 1e9, 64, 32768)).toEqual([64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]);
  });
  it('capped by the dispatch limit and by one word per thread, never empty', () => {
    expect(sweepWorkgroupCounts(1000, 256, 1e9)).toEqual([64, 128, 256, 512]);
    // 300,000 words / 256 threads = 1171 workgroups with a word each
    expect(sweepWorkgroupCounts(65535, 256, 300_000)).toEqual([64, 128, 256, 512, 1024]);
    expect(sweepWorkgroupCounts(65535, 256, 100)).toEqual([64]);
    expect(sweepWorkgroupCounts(32, 256, 1e9)).toEqual([32]);
  });
});

describe('bestTrial', () => {
  const t = (workgroups: number, GBps: number, vec4PerIteration = 1): StreamTrial => ({ workgroups, workgroupSize: 256, vec4PerIteration, blocked: false, GBps });
  it('the fastest; a tie goes to the earlier trial', () => {
    expect(bestTrial([t(64, 10), t(128, 30), t(256, 20)])).toEqual(t(128, 30));
    expect(bestTrial([t(64, 30), t(128, 30), t(64, 30, 4)])).toEqual(t(64, 30));
    expect(bestTrial([t(64, 5), t(128, 6, 4), t(4096, 5.9)])).toEqual(t(128, 6, 4));
  });
  it('ignores trials that measured nothing, and fails when none did', () => {
    expect(bestTrial([t(64, NaN), t(128, Infinity), t(256, 0), t(512, 1)])).toEqual(t(512, 1));
    expect(() => bestTrial([t(64, NaN)])).toThrow(/no trial/);
  });
});

describe('StreamBench on the test device', () => {
  it('times every shape at every count and picks the best of them', async () => {
    // 3 MiB in 16-byte words: 196,608 words
    const sb = new StreamBench(gpu.device, 3 * 2 ** 20 - 5, 8 * 2 ** 20);
    try {
      expect(sb.bytesPerRead).toBe(3 * 2 ** 20);
      expect(sb.reps).toBe(3);
      const seen: StreamTrial[] = [];
      const s = await sb.sweep({ maxWorkgroups: 1024, runs: 1, onTrial: (t) => seen.push(t) });
      // 256 threads: 64..512 (196,608 / 256 = 768 workgroups with a word each); 64 threads: 64..1024
      expect(s.workgroupsTried).toEqual([64, 128, 256, 512, 1024]);
      // counts in the outer loop, every shape at each
      expect(s.trials.map((t) => `${shapeName(t)}:${t.workgroups}`)).toEqual([
        ...[64, 128, 256, 512].flatMap((n) => [`256x1:${n}`, `256x1 blocked:${n}`, `64x1:${n}`, `256x4:${n}`]),
        '64x1:1024',
      ]);
      expect(s.notTried).toBe(0);
      expect(seen).toEqual(s.trials);
      expect(s.shapesTried).toEqual(STREAM_SHAPES);
      expect(s.bytesPerTrial).toBe(9 * 2 ** 20);
      for (const t of s.trials) expect(t.GBps).toBeGreaterThan(0);
      expect(s.best.GBps).toBe(Math.max(...s.trials.map((t) => t.GBps)));
      expect(s.sweepMs).toBeGreaterThan(0);
      // the original configuration is one of the trials, and can be timed again after the sweep
      expect(s.trials).toContainEqual({ ...LEGACY_STREAM, GBps: s.trials[0].GBps });
      expect(await sb.time(LEGACY_STREAM)).toBeGreaterThan(0);
    } finally {
      sb.destroy();
    }
  });

  it('stops at its time budget, having measured at least one configuration', async () => {
    const sb = new StreamBench(gpu.device, 2 ** 20, 2 ** 20);
    try {
      const s = await sb.sweep({ maxWorkgroups: 1024, runs: 1, budgetMs: 0 });
      expect(s.trials).toHaveLength(1);
      expect(s.trials[0]).toMatchObject({ workgroups: 64, workgroupSize: 256, vec4PerIteration: 1, blocked: false });
      expect(s.best).toEqual(s.trials[0]);
      expect(s.workgroupsTried).toEqual([64]);
      // 65,536 words: 256 threads 64..256 (grid stride and blocked), 64 threads 64..1024, 256 x 4 64..256
      expect(s.notTried).toBe(3 + 3 + 5 + 3 - 1);
    } finally {
      sb.destroy();
    }
  });

  it('more workgroups than the default partials hold', async () => {
    const sb = new StreamBench(gpu.device, 16 * 2 ** 20, 16 * 2 ** 20);
    try {
      const c = { workgroupSize: 64, vec4PerIteration: 1, blocked: false };
      await sb.warm({ ...c, workgroups: 64 });
      // 16384 workgroups of 64 threads: twice the partials made for 8192
      expect(await sb.time({ ...c, workgroups: 16384 })).toBeGreaterThan(0);
      expect(await sb.time({ ...c, workgroups: 64 })).toBeGreaterThan(0);
    } finally {
      sb.destroy();
    }
  });
});
