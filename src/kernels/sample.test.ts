import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { createStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { compareArrays, describeReport } from '../util/compare.ts';
import { EMPTY_SLOT, GREEDY, SampleKernel, historyInit, parseResult, runSample } from './sample.ts';
import type { SampleResult, SampleRunStep, SampleSettings } from './sample.ts';
import { pcgHash, sampleRef, sampleUniform, sampleZ } from './sample.ref.ts';
import type { SampleRefResult } from './sample.ref.ts';

// Decisions (top-p cut, u * mass) compare f32 running sums on the GPU with f64 ones here. The
// GPU sums up to 256 terms in order (relative error <= 256 * 2^-24 = 1.5e-5 of the total) of
// exp values each within (3 + 2|x|) ulp (WGSL's bound; <= 43 ulp = 2.6e-6 for |x| <= 20, the
// terms that matter). Both sides of a comparison carry such an error, so a case is decided
// the same way whenever the reference's margin exceeds 2 * (1.5e-5 + 2.6e-6) ~ 3.5e-5.
// Cases closer than MARGIN are not compared for the id (they are counted, and must be few).
const MARGIN = 5e-5;

// Top logprobs z - max - log Z: z = l / T within 2.5 ulp (|z| <= 12: 2.4e-6), z - max 0.5 ulp
// (9.5e-7), log Z off by Z's relative error (pass 1 sums 4 terms per thread then 256 thread
// sums in order, pass 2 32 chunks: <= (4 + 256 + 32 + 3 exp) * 2^-24 ~ 1.8e-5) plus log's
// 3 ulp (1.4e-6), the final subtraction 0.5 ulp of |logprob| <= 32 (1.9e-6): ~2.5e-5 at worst.
// A wrong normalizer (top-k sum instead of full vocab), temperature or rank is off by >= 1e-3.
const LOGPROB_ATOL = 3e-5;

const gpu = gpuForTests();
let kernel: SampleKernel;
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
  kernel = new SampleKernel(device);
});

const settings = (s: Partial<SampleSettings>): SampleSettings => ({ ...GREEDY, ...s });

/** Logits on a 1/64 grid: exactly representable, so equal ones tie on both sides and different ones are far apart. */
function gridLogits(rng: Rng, vocab: number, spread = 8): Float32Array {
  return Float32Array.from({ length: vocab }, () => rng.int(-spread * 64, spread * 64) / 64);
}

function uFor(s: SampleSettings, step: number): number {
  return s.temperature > 0 ? sampleUniform(s.seed, step) : 0;
}

/**
 * The reference for each step in order, the history ring updated as the GPU does (with the
 * GPU's ids, so that one near-tie cannot derail the later steps).
 */
function simulate(logits: Float32Array, ring: Uint32Array, steps: readonly SampleRunStep[], got: readonly SampleResult[]): SampleRefResult[] {
  const r = ring.slice();
  return steps.map(({ settings: s, step }, i) => {
    const ref = sampleRef(logits, r, s, uFor(s, step));
    if (s.penaltyWindow > 0) r[step % s.penaltyWindow] = got[i].id;
    return ref;
  });
}

/** Exact id and nKeep wherever the margin allows; returns how many cases were compared. */
function expectIds(steps: readonly SampleRunStep[], got: readonly SampleResult[], refs: readonly SampleRefResult[]): number {
  let compared = 0;
  steps.forEach(({ settings: s, step }, i) => {
    const what = `case ${i}: ${JSON.stringify(s)} step ${step}`;
    expect(got[i].u, what).toBe(uFor(s, step));
    if (refs[i].margin < MARGIN) return;
    compared++;
    expect([got[i].id, got[i].nKeep], what).toEqual([refs[i].id, refs[i].nKeep]);
  });
  return compared;
}

describe('counter-based RNG', () => {
  it('pcgHash is PCG-RXS-M-XS (checked against a BigInt implementation) and u has 24 bits', () => {
    const M = 1n << 32n;
    const big = (v: number) => {
      const state = (BigInt(v) * 747796405n + 2891336453n) % M;
      const word = (((state >> ((state >> 28n) + 4n)) ^ state) * 277803737n) % M;
      return Number((word >> 22n) ^ word);
    };
    const rng = new Rng(5);
    for (const v of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, ...Array.from({ length: 200 }, () => rng.u32())]) expect(pcgHash(v)).toBe(big(v));
    for (let t = 0; t < 100; t++) {
      const u = sampleUniform(rng.u32(), rng.u32());
      expect(u >= 0 && u < 1 && Number.isInteger(u * 2 ** 24) && Math.fround(u) === u).toBe(true);
    }
  });
});

describe('greedy (temperature 0)', () => {
  it('argmax, ties to the smallest id, on vocabs around the workgroup and chunk sizes', async () => {
    const rng = new Rng(11);
    for (const vocab of [1, 2, 255, 256, 257, 1000, 1023, 1024, 1025, 2049, 5000, 32064]) {
      // small integers: many ties at the max, in different chunks
      const ties = Float32Array.from({ length: vocab }, () => rng.int(-6, 6));
      const atFirst = rng.fill(vocab, -4, 4);
      atFirst[0] = 9;
      const atLast = rng.fill(vocab, -4, 4);
      atLast[vocab - 1] = 9;
      const tieWithLast = rng.fill(vocab, -4, 4);
      tieWithLast[vocab - 1] = 9;
      tieWithLast[vocab >> 1] = 9;
      for (const [name, logits] of [['ties', ties], ['max at 0', atFirst], ['max last', atLast], ['tie with last', tieWithLast]] as const) {
        const run = await runSample(kernel, logits, [{ settings: GREEDY, step: 0 }]);
        const want = sampleRef(logits, [], GREEDY, 0).id;
        expect(want).toBe(logits.indexOf(Math.max(...logits)));
        const got = run.results[0];
        expect([got.id, got.nKeep, got.u, got.top.length, run.nextIds[0]], `${name}, vocab ${vocab}`).toEqual([want, 1, 0, 0, want]);
      }
    }
  });

  it('NaN and -inf never win; all equal picks id 0; negative logits', async () => {
    const rng = new Rng(12);
    const logits = rng.fill(3000, -30, -20);
    logits[5] = NaN;
    logits[2500] = -Infinity;
    logits[1700] = -19;
    expect((await runSample(kernel, logits, [{ settings: GREEDY, step: 0 }])).results[0].id).toBe(1700);
    expect((await runSample(kernel, new Float32Array(2000).fill(-3), [{ settings: GREEDY, step: 0 }])).results[0].id).toBe(0);
    const masked = new Float32Array(2000).fill(-Infinity);
    masked[1999] = -1e30;
    expect((await runSample(kernel, masked, [{ settings: GREEDY, step: 0 }])).results[0].id).toBe(1999);
  });
});

describe('repetition penalty (llama.cpp penalty_repeat)', () => {
  const run1 = async (logits: Float32Array, ring: number[], s: SampleSettings) =>
    (await runSample(kernel, logits, [{ settings: s, step: 0 }], Uint32Array.from(ring))).results[0].id;

  it('moves the argmax off a recent token: positive logits divided, negative multiplied', async () => {
    const pos = new Float32Array(1500).fill(-5);
    pos[1200] = 2.0;
    pos[40] = 1.7;
    const s = settings({ repetitionPenalty: 1.3, penaltyWindow: 4 });
    expect(await run1(pos, [EMPTY_SLOT, EMPTY_SLOT, EMPTY_SLOT, EMPTY_SLOT], s)).toBe(1200);
    expect(await run1(pos, [7, 1200, EMPTY_SLOT, 9], s)).toBe(40); // 2.0 / 1.3 = 1.54 < 1.7
    expect(await run1(pos, [7, 1200, EMPTY_SLOT, 9], settings({ repetitionPenalty: 1.1, penaltyWindow: 4 }))).toBe(1200); // 1.82 > 1.7
    const neg = new Float32Array(1500).fill(-5);
    neg[3] = -1.0;
    neg[1400] = -1.1;
    expect(await run1(neg, [3, 3, 3, 3], s)).toBe(1400); // -1.0 * 1.3 = -1.3 < -1.1
    expect(await run1(neg, [3, 3, 3, 3], settings({ repetitionPenalty: 1, penaltyWindow: 4 }))).toBe(3);
  });

  it('an id repeated in the window is penalized once; only the first penaltyWindow slots count', async () => {
    const logits = new Float32Array(700).fill(0);
    logits[100] = 2.0;
    logits[600] = 1.5;
    const s = settings({ repetitionPenalty: 1.3, penaltyWindow: 3 });
    // once: 2.0 / 1.3 = 1.54 > 1.5; twice would be 1.18
    expect(await run1(logits, [100, 100, 100, EMPTY_SLOT], s)).toBe(100);
    expect(await run1(logits, [5, 6, 7, 100], s)).toBe(100); // slot 3 is outside the window of 3
    expect(await run1(logits, [5, 6, 7, 100], settings({ repetitionPenalty: 1.5, penaltyWindow: 4 }))).toBe(600);
    expect(await run1(logits, [100, 100, 100, 100], settings({ repetitionPenalty: 1.5, penaltyWindow: 0 }))).toBe(100);
  });
});

describe('sampled ids equal the reference', () => {
  const TEMPS = [0.5, 0.8, 1, 1.7];
  const TOPKS = [0, 1, 7, 40, 256, 300, 100000];
  const TOPPS = [1, 0.95, 0.6, 0.1, 0];

  it('temperature x top-k x top-p x penalty, many seeds and steps (vocab 32064 and 777)', async () => {
    for (const vocab of [32064, 777]) {
      const rng = new Rng(vocab);
      const logits = gridLogits(rng, vocab);
      const ring = Uint32Array.from({ length: 16 }, () => rng.int(0, vocab - 1));
      const steps: SampleRunStep[] = [];
      for (let c = 0; c < 96; c++) {
        const s = settings({
          temperature: TEMPS[c % TEMPS.length],
          topK: TOPKS[rng.int(0, TOPKS.length - 1)],
          topP: TOPPS[rng.int(0, TOPPS.length - 1)],
          repetitionPenalty: c % 3 === 0 ? 1.3 : 1,
          penaltyWindow: c % 3 === 0 ? 16 : 0,
          seed: rng.u32(),
        });
        // the full-vocab draw has its own tests (its margins are tiny at this vocab)
        if (vocab > 1000 && (s.topK === 0 || s.topK >= vocab) && s.topP >= 1) s.topP = 0.9;
        steps.push({ settings: s, step: rng.int(0, 1 << 30) });
      }
      const run = await runSample(kernel, logits, steps, ring);
      const compared = expectIds(steps, run.results, simulate(logits, ring, steps, run.results));
      expect(compared, `vocab ${vocab}: cases decided within f32 rounding`).toBeGreaterThanOrEqual(90);
    }
  });

  it('one seed over consecutive steps, top-k 40 top-p 0.9 (the chat default)', async () => {
    const rng = new Rng(3);
    const logits = gridLogits(rng, 32064, 10);
    const s = settings({ temperature: 0.7, topK: 40, topP: 0.9, seed: 424242 });
    const steps = Array.from({ length: 64 }, (_, step) => ({ settings: s, step }));
    const run = await runSample(kernel, logits, steps);
    expect(expectIds(steps, run.results, simulate(logits, new Uint32Array([EMPTY_SLOT]), steps, run.results))).toBeGreaterThanOrEqual(62);
    expect(new Set(run.results.map((r) => r.id)).size).toBeGreaterThan(3);
  });

  it('top-k 1 is the argmax of z; top-p 0 keeps one token', async () => {
    const rng = new Rng(4);
    const logits = gridLogits(rng, 5000);
    const argmax = sampleRef(logits, [], GREEDY, 0).id;
    const steps = [
      ...Array.from({ length: 8 }, (_, step) => ({ settings: settings({ temperature: 1.5, topK: 1, seed: 9 }), step })),
      ...Array.from({ length: 8 }, (_, step) => ({ settings: settings({ temperature: 1.5, topP: 0, seed: 9 }), step })),
    ];
    const run = await runSample(kernel, logits, steps);
    for (const r of run.results) expect([r.id, r.nKeep]).toEqual([argmax, 1]);
  });

  it('full-vocab draw (top-k off, top-p 1): exact ids on small vocabs', async () => {
    for (const vocab of [5, 300, 1000]) {
      const rng = new Rng(vocab + 1);
      const logits = gridLogits(rng, vocab, 3);
      const steps = Array.from({ length: 48 }, (_, i) => ({
        settings: settings({ temperature: [0.6, 1, 1.4][i % 3], topK: i % 4 === 0 ? vocab : 0, seed: rng.u32(), nTop: i % 5 }),
        step: rng.int(0, 1e6),
      }));
      const run = await runSample(kernel, logits, steps);
      const compared = expectIds(steps, run.results, simulate(logits, new Uint32Array([EMPTY_SLOT]), steps, run.results));
      expect(compared, `vocab ${vocab}`).toBeGreaterThanOrEqual(0.8 * steps.length);
    }
  });

  it('full-vocab draw at vocab 3000 and 32064: the chosen token holds the draw in its CDF interval', async () => {
    // Thousands of boundaries sit closer than f32 can tell apart, so the check is the statement
    // itself: the exact CDF (id order) just below the chosen id is <= u <= the CDF at it,
    // within MARGIN; and the chosen token has nonzero probability.
    for (const vocab of [3000, 32064]) {
      const rng = new Rng(vocab + 6);
      const logits = gridLogits(rng, vocab, 4);
      const s = settings({ temperature: 1.2, seed: 77 });
      const steps = Array.from({ length: 40 }, (_, step) => ({ settings: s, step }));
      const run = await runSample(kernel, logits, steps);
      const z = sampleZ(logits, [], s);
      const m = Math.max(...z);
      const cdf = new Float64Array(vocab);
      let c = 0;
      z.forEach((v, i) => (cdf[i] = c += Math.exp(v - m)));
      run.results.forEach((r, i) => {
        const u = sampleUniform(s.seed, i);
        expect([r.u, r.nKeep]).toEqual([u, vocab]);
        const lo = r.id > 0 ? cdf[r.id - 1] / c : 0;
        expect(lo - MARGIN <= u && u <= cdf[r.id] / c + MARGIN, `step ${i}: id ${r.id} CDF [${lo}, ${cdf[r.id] / c}] u ${u}`).toBe(true);
        expect(cdf[r.id] / c - lo).toBeGreaterThan(0);
      });
    }
  });
});

/** Chi-square critical value at significance 0.001 (Wilson-Hilferty; within 1% for df >= 2). */
function chiSquareCritical(df: number): number {
  const z = 3.0902;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

describe('draw histograms match the target distribution', () => {
  // Seeded (fixed seed and steps), so the outcome is fixed: no flakes. The threshold is the
  // 0.001 critical value; a wrong CDF (off-by-one rank, wrong normalizer, a biased u) gives
  // statistics in the hundreds at these counts.
  async function histogram(logits: Float32Array, s: SampleSettings, n: number) {
    const steps = Array.from({ length: n }, (_, step) => ({ settings: s, step }));
    const run = await runSample(kernel, logits, steps);
    const counts = new Map<number, number>();
    for (const r of run.results) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    const dist = sampleRef(logits, [], s, 0).dist;
    const support = new Set(dist.map(([id]) => id));
    for (const id of counts.keys()) expect(support.has(id), `drew ${id} outside the kept set`).toBe(true);
    // bins with an expected count >= 5, the rest pooled
    let stat = 0;
    let bins = 0;
    let pooledExp = 0;
    let pooledObs = 0;
    for (const [id, p] of dist) {
      const e = n * p;
      const o = counts.get(id) ?? 0;
      if (e >= 5) {
        stat += (o - e) ** 2 / e;
        bins++;
      } else {
        pooledExp += e;
        pooledObs += o;
      }
    }
    if (pooledExp > 0) {
      stat += (pooledObs - pooledExp) ** 2 / pooledExp;
      bins++;
    }
    return { stat, df: bins - 1, dist };
  }

  it('top-k 8, top-p 0.9, T 0.8 over 2000 steps', async () => {
    const logits = Float32Array.from([2.0, 1.5, 1.375, 1.0, 0.5, 0.25, 0, -0.5, -1, -2, -3, -4]);
    const { stat, df, dist } = await histogram(logits, settings({ temperature: 0.8, topK: 8, topP: 0.9, seed: 2024 }), 2000);
    expect(dist.length).toBeGreaterThan(3);
    expect(dist.length).toBeLessThan(8);
    expect(stat, `chi2 ${stat.toFixed(2)} df ${df}`).toBeLessThan(chiSquareCritical(df));
  });

  it('full draw, T 1.3 over 2000 steps', async () => {
    const logits = Float32Array.from([0.5, -1, 1.25, 0, 2, -0.5, 1, -2]);
    const { stat, df } = await histogram(logits, settings({ temperature: 1.3, seed: 99 }), 2000);
    expect(df).toBe(7);
    expect(stat, `chi2 ${stat.toFixed(2)} df ${df}`).toBeLessThan(chiSquareCritical(df));
  });

  it('full draw across chunks (vocab 5000, mass in 5 chunks) over 600 steps', async () => {
    const logits = new Float32Array(5000).fill(-6);
    for (const [id, v] of [[3, 1], [1500, 2], [2047, 0.5], [2048, 1.5], [4999, 1.75]]) logits[id] = v;
    const { stat, df } = await histogram(logits, settings({ temperature: 1, seed: 5 }), 600);
    expect(stat, `chi2 ${stat.toFixed(2)} df ${df}`).toBeLessThan(chiSquareCritical(df));
  });
});

describe('top logprobs (log softmax after penalty and temperature)', () => {
  it('equal the reference: ids in rank order, values within LOGPROB_ATOL', async () => {
    const rng = new Rng(21);
    const logits = rng.fill(32064, -8, 8);
    const ring = Uint32Array.from({ length: 8 }, () => rng.int(0, 32063));
    const cases: [Partial<SampleSettings>, number][] = [
      [{ nTop: 10 }, 0], // greedy: reported at T = 1
      [{ nTop: 256, repetitionPenalty: 1.2, penaltyWindow: 8 }, 0],
      [{ temperature: 0.7, topK: 40, topP: 0.9, nTop: 20, seed: 1 }, 5],
      [{ temperature: 1.3, topK: 5, nTop: 50, seed: 2 }, 6], // more reported than top-k keeps
      [{ temperature: 1.3, nTop: 7, seed: 3 }, 7], // full draw
      [{ temperature: 0.9, topP: 0.5, nTop: 256, seed: 4 }, 8],
    ];
    const steps = cases.map(([s, step]) => ({ settings: settings(s), step }));
    const run = await runSample(kernel, logits, steps, ring);
    steps.forEach(({ settings: s, step }, i) => {
      const ref = sampleRef(logits, ring, s, uFor(s, step));
      const got = run.results[i].top;
      expect(got.map(([id]) => id), `case ${i}`).toEqual(ref.top.map(([id]) => id));
      const report = compareArrays(got.map(([, lp]) => lp), ref.top.map(([, lp]) => lp), LOGPROB_ATOL, 0);
      expect(report.ok, `case ${i}: ${describeReport(report)}`).toBe(true);
    });
  });

  it('a vocab smaller than nTop reports the whole vocab, summing to probability 1', async () => {
    const logits = Float32Array.from([0.25, -1, 3, 3, 0.5]);
    const got = (await runSample(kernel, logits, [{ settings: settings({ temperature: 0.5, nTop: 9, seed: 1 }), step: 0 }])).results[0].top;
    expect(got.map(([id]) => id)).toEqual([2, 3, 4, 0, 1]);
    expect(got.reduce((a, [, lp]) => a + Math.exp(lp), 0)).toBeCloseTo(1, 5);
  });
});

describe('history ring and next-id buffer on the GPU', () => {
  it('each step appends its id at step % window and the next step is penalized by it (one submit)', async () => {
    const logits = new Float32Array(3000).fill(-4);
    [[10, 3.0], [2000, 2.9], [777, 2.8], [2999, 2.7], [0, 2.6]].forEach(([id, v]) => (logits[id] = v));
    const window = 3;
    const s = settings({ repetitionPenalty: 2, penaltyWindow: window, nTop: 2 });
    const steps = Array.from({ length: 12 }, (_, step) => ({ settings: s, step }));
    // a buffer longer than the window: slots 3 and 4 hold the best id and must neither count nor change
    const start = Uint32Array.from([...historyInit(window, [], 0), 10, 10]);
    const run = await runSample(kernel, logits, steps, start);
    const refs = simulate(logits, start, steps, run.results);
    expect(run.results.map((r) => r.id)).toEqual(refs.map((r) => r.id));
    expect(run.nextIds).toEqual(refs.map((r) => r.id));
    // greedy with a window of 3 cycles through the 4 best tokens
    expect(run.results.slice(0, 5).map((r) => r.id)).toEqual([10, 2000, 777, 2999, 10]);
    const ring = start.slice();
    run.results.forEach((r, step) => (ring[step % window] = r.id));
    expect(Array.from(run.history)).toEqual(Array.from(ring));
  });

  it('sampled steps with a penalty follow the reference step by step', async () => {
    const rng = new Rng(8);
    const logits = gridLogits(rng, 2500, 3);
    const s = settings({ temperature: 1, topK: 6, repetitionPenalty: 1.5, penaltyWindow: 5, seed: 31337 });
    const steps = Array.from({ length: 30 }, (_, step) => ({ settings: s, step: step + 100 }));
    const start = historyInit(5, [7, 8, 9], 100);
    const run = await runSample(kernel, logits, steps, start);
    expect(expectIds(steps, run.results, simulate(logits, start, steps, run.results))).toBe(30);
  });

  it('historyInit puts the newest id just before step % length', () => {
    expect(Array.from(historyInit(4, [1, 2, 3, 4, 5, 6], 6))).toEqual([5, 6, 3, 4]); // slot 6 % 4 = 2 holds the oldest
    expect(Array.from(historyInit(4, [1, 2], 1))).toEqual([2, EMPTY_SLOT, EMPTY_SLOT, 1]);
    expect(Array.from(historyInit(3, [], 0))).toEqual([EMPTY_SLOT, EMPTY_SLOT, EMPTY_SLOT]);
  });

  it('nextId feeds a later dispatch of the same pass as a read-only token input', async () => {
    // What the engine does: the embedding kernel binds nextId as read-only storage.
    const logits = new Float32Array(4000).fill(-1);
    logits[3210] = 5;
    const logitsBuf = createStorage(device, logits.byteLength, 'logits');
    device.queue.writeBuffer(logitsBuf, 0, logits);
    const io = kernel.createIo(logitsBuf, 1);
    kernel.writeParams(io.params, GREEDY, 0, 4000, 1);
    const binding = kernel.bind(io, kernel.createScratch(4000), 4000);
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read> ids: array<u32>;
             @group(0) @binding(1) var<storage, read_write> out: array<u32>;
             @compute @workgroup_size(1) fn main() { out[0] = ids[0] + 1u; }`,
    });
    const consumer = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const out = createStorage(device, 4, 'out');
    const staging = device.createBuffer({ size: 16 + kernel.resultBytes(0), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.pushErrorScope('validation');
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    kernel.encode(pass, binding);
    pass.setPipeline(consumer);
    pass.setBindGroup(0, device.createBindGroup({ layout: consumer.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: io.nextId } }, { binding: 1, resource: { buffer: out } }] }));
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(out, 0, staging, 0, 4);
    kernel.encodeReadback(enc, io, staging, 0, 16);
    device.queue.submit([enc.finish()]);
    expect(await device.popErrorScope()).toBeNull();
    await staging.mapAsync(GPUMapMode.READ);
    const data = staging.getMappedRange().slice(0);
    staging.unmap();
    expect(new Uint32Array(data, 0, 1)[0]).toBe(3211);
    expect(parseResult(data, 16).id).toBe(3210);
  });
});

describe('settings are checked before they reach the GPU', () => {
  it('rejects what the shader cannot honour', () => {
    const ok = settings({ temperature: 0.7, topK: 40, topP: 0.9, seed: 1, nTop: 5 });
    expect(() => kernel.packParams(ok, 0, 32064, 64)).not.toThrow();
    for (const bad of [{ temperature: -1 }, { temperature: NaN }, { topK: 1.5 }, { topP: NaN }, { repetitionPenalty: 0 }, { penaltyWindow: 65 }, { seed: -1 }, { nTop: 257 }]) {
      expect(() => kernel.packParams({ ...ok, ...bad }, 0, 32064, 64), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => kernel.packParams(ok, -1, 32064, 64)).toThrow(RangeError);
    expect(() => kernel.packParams(ok, 0, kernel.maxVocab + 1, 64)).toThrow(RangeError);
    expect(() => new SampleKernel(device, { cap: 128 })).toThrow(RangeError);
    expect(() => new SampleKernel(device, { workgroupSize: 96 })).toThrow(RangeError);
    expect(() => new SampleKernel(device, { workgroupSize: 64, chunk: 1024 })).toThrow(RangeError); // 16 logits per thread
  });
});

describe('other tunings give the same answers', () => {
  // cap 512 with 256 threads: 2 candidates per thread in the rank sort, 63 chunks at 32064;
  // 64 threads: 8 logits per thread in pass 1 and 4 candidates per thread in pass 2.
  for (const opts of [{ workgroupSize: 256, cap: 512, chunk: 512 }, { workgroupSize: 64, chunk: 512 }]) {
    it(JSON.stringify(opts), async () => {
      const k = new SampleKernel(device, opts);
      const cap = k.cap;
      const rng = new Rng(cap + k.workgroupSize);
      const logits = gridLogits(rng, 32064);
      const steps: SampleRunStep[] = [
        { settings: GREEDY, step: 0 },
        { settings: settings({ nTop: cap }), step: 0 },
        ...Array.from({ length: 20 }, (_, i) => ({
          settings: settings({ temperature: [0.6, 1.1][i % 2], topK: [0, 5, 400, cap][i % 4], topP: [1, 0.8, 0.3][i % 3], seed: rng.u32(), nTop: i % 3 ? 0 : 3 }),
          step: i,
        })),
      ];
      const run = await runSample(k, logits, steps);
      const refs = steps.map(({ settings: s, step }) => sampleRef(logits, [], s, uFor(s, step), cap));
      expect(expectIds(steps, run.results, refs)).toBeGreaterThanOrEqual(0.8 * steps.length);
      const top = run.results[1].top;
      expect(top.map(([id]) => id)).toEqual(refs[1].top.map(([id]) => id));
      expect(compareArrays(top.map(([, lp]) => lp), refs[1].top.map(([, lp]) => lp), LOGPROB_ATOL, 0).ok).toBe(true);
    });
  }
});
