/**
 * The autotuner on a generated model: every role gets a timed choice that agrees with the
 * reference, a candidate that cannot be built is dropped and named, and an engine built from the
 * tuned plan computes what the table plan's engine computes.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { Engine } from './engine.ts';
import { feed, openTestModel } from './test-engine.ts';
import { AGREEMENT_RMS, agreement, tuneKernels } from './tune.ts';
import { KERNEL_ROLES, describeChoice, tablePlan, type GemvChoice } from './plan.ts';
import { deviceAdapterText } from '../kernels/tuning.ts';
import { candidatesFor } from './candidates.ts';
import { promptIds } from '../../scripts/prompts.ts';
import { openPhi3Small } from './test-phi3small.ts';

const gpu = gpuForTests();

/** The first candidate of each variant: choices alike but for their numbers count as one. */
function oneOfEachVariant(list: object[]): object[] {
  const seen = new Set<string>();
  return list.filter((c) => {
    const kind = describeChoice(c).replace(/=\d+/g, '');
    if (seen.has(kind)) return false;
    seen.add(kind);
    return true;
  });
}

describe('agreement', () => {
  it('is the relative RMS difference, and Infinity for a non-finite output', () => {
    const ref = new Float32Array([3, -4]);
    expect(agreement(new Float32Array([3, -4]), ref)).toBe(0);
    expect(agreement(new Float32Array([3.05, -4]), ref)).toBeCloseTo(0.05 / 5, 6);
    expect(agreement(new Float32Array([NaN, -4]), ref)).toBe(Infinity);
    expect(agreement(new Float32Array([1, 0]), new Float32Array([0, 0]))).toBe(Infinity);
    // a wrong row (another row's values) is far outside the limit
    expect(agreement(new Float32Array([-4, 3]), ref)).toBeGreaterThan(100 * AGREEMENT_RMS);
  });
});

describe('tuneKernels', () => {
  it('times every role, drops a candidate that cannot be built, and the tuned engine agrees with the table', { timeout: 900_000 }, async () => {
    const { file, src, cfg } = await openTestModel({ preset: 'tiny', mix: 'q4_k_m', seed: 2, nKvHeads: 2 });
    const progress: string[] = [];
    let tuned: Awaited<ReturnType<typeof tuneKernels>> | undefined;
    const engine = await Engine.load(gpu.device, file, src, cfg, {
      contextLength: 256,
      prefillChunk: 32,
      tune: async (weights) => {
        tuned = await tuneKernels(gpu.device, cfg, weights, {
          chunk: 32,
          contextLength: 256,
          samples: 3,
          // the full search, one candidate of each variant (the shapes differ only in numbers), and
          // for Wo one shape its kernel refuses: more rows than it allows
          search: 'full',
          candidates: (role, ctx) => [...oneOfEachVariant(candidatesFor(role, ctx)), ...(role === 'wo' ? [{ workgroupSize: 64, rowsPerWorkgroup: 999, subgroups: false }] : [])],
          onProgress: (done, total, role) => progress.push(`${done}/${total} ${role}`),
        });
        return tuned.plan;
      },
    });
    const table = await Engine.load(gpu.device, file, src, cfg, { contextLength: 256, prefillChunk: 32, plan: tablePlan(deviceAdapterText(gpu.device), gpu.hasSubgroups()) });
    try {
      const t = tuned!;
      expect(t.plan.source).toBe('tuned');
      expect(t.search).toBe('full');
      expect(t.roles.map((r) => r.role)).toEqual([...KERNEL_ROLES]);
      for (const r of t.roles) {
        expect(r.ms, r.role).toBeGreaterThan(0);
        expect(r.ms).toBeLessThanOrEqual(r.referenceMs!);
        expect(r.skipped).toBeUndefined();
        expect(r.tried.filter((c) => c.ms !== undefined).length, r.role).toBeGreaterThanOrEqual(2);
      }
      expect(t.dropped.some((d) => d.role === 'wo' && d.label.includes('rowsPerWorkgroup=999') && /rows per workgroup/.test(d.reason))).toBe(true);
      // Wo merging the attention partials itself was timed against the merge pass + Wo (it agreed)
      expect(t.roles.find((r) => r.role === 'wo')!.tried.some((c) => c.ms !== undefined && (c.choice as GemvChoice).mergeAttention)).toBe(true);
      expect(progress[0]).toBe(`0/${KERNEL_ROLES.length} qkv`);
      expect(progress.at(-1)).toContain(`${KERNEL_ROLES.length}/${KERNEL_ROLES.length}`);
      console.log(`[tune] tiny q4_k_m GQA: ${t.tuneMs.toFixed(0)} ms (${t.timer}); ${t.roles.map((r) => `${r.role}: ${r.chosen}`).join('; ')}`);

      // same prompt, both engines: prefill and decode logits agree to the tuner's own bound
      const ids = promptIds(40);
      const a = await feed(engine, ids, 32);
      const b = await feed(table, ids, 32);
      const a1 = await feed(engine, [7, 8], 1);
      const b1 = await feed(table, [7, 8], 1);
      for (const [x, y] of [...a.map((x, i) => [x, b[i]]), ...a1.map((x, i) => [x, b1[i]])]) expect(agreement(x, y)).toBeLessThanOrEqual(AGREEMENT_RMS);
      // a spent budget leaves every remaining role on the base plan's choice, untimed
      const spent = await tuneKernels(gpu.device, cfg, engine.weights, { chunk: 32, contextLength: 256, budgetMs: 0 });
      expect(spent.roles.every((r) => r.skipped !== undefined && r.ms === undefined)).toBe(true);
      expect({ ...spent.plan, source: 'table' }).toEqual(table.kernels.plan);
    } finally {
      engine.destroy();
      table.destroy();
    }
  });

  it('with a q8_0 KV cache: the attention trials run on a q8_0 cache, every variant included', { timeout: 600_000 }, async () => {
    const { file, src, cfg } = await openTestModel({ preset: 'tiny', mix: 'q4_k_m', seed: 2, nKvHeads: 2 });
    let tuned: Awaited<ReturnType<typeof tuneKernels>> | undefined;
    const engine = await Engine.load(gpu.device, file, src, cfg, {
      contextLength: 256,
      prefillChunk: 32,
      kvType: 'q8_0',
      tune: async (weights) => {
        tuned = await tuneKernels(gpu.device, cfg, weights, {
          chunk: 32,
          contextLength: 256,
          samples: 3,
          search: 'full',
          kvType: 'q8_0',
          roles: ['attnDecode', 'attnPrefill'],
          candidates: (role, ctx) => oneOfEachVariant(candidatesFor(role, ctx)),
        });
        return tuned.plan;
      },
    });
    try {
      const t = tuned!;
      const tried = t.roles.flatMap((r) => r.tried);
      expect(t.roles.every((r) => r.ms !== undefined && r.skipped === undefined)).toBe(true);
      // the real-GPU variants run on the q8_0 cache and agree with the table's choice there
      expect(tried.some((c) => (c.choice as { decodeVariant?: string }).decodeVariant === 'lanes' && c.ms !== undefined)).toBe(true);
      if (gpu.device.features.has('shader-f16')) expect(tried.some((c) => (c.choice as { prefillVariant?: string }).prefillVariant === 'rows-f16' && c.ms !== undefined)).toBe(true);
      expect(t.dropped).toEqual([]);
      expect(engine.kvType).toBe('q8_0');
      console.log(`[tune q8_0 KV] ${t.roles.map((r) => `${r.role}: ${r.chosen} (${r.tried.length} tried)`).join('; ')}`);
    } finally {
      engine.destroy();
    }
  });

  it('on phi3small: the GEMVs its graphs run (plain, no norm fused, no hand-off) are what it times', { timeout: 600_000 }, async () => {
    const { file, src, cfg } = await openPhi3Small({ seed: 21, denseEvery: 2, blockSize: 4, localBlocks: 2, vertStride: 3 });
    const opts = { contextLength: 64, prefillChunk: 16 };
    let tuned: Awaited<ReturnType<typeof tuneKernels>> | undefined;
    const engine = await Engine.load(gpu.device, file, src, cfg, {
      ...opts,
      tune: async (weights) => {
        tuned = await tuneKernels(gpu.device, cfg, weights, {
          chunk: 16,
          contextLength: 64,
          samples: 2,
          search: 'full',
          roles: ['qkv', 'wo', 'gateUp', 'down', 'lmHead', 'attnDecode'],
          candidates: (role, ctx) => oneOfEachVariant(candidatesFor(role, ctx)),
        });
        return tuned.plan;
      },
    });
    const table = await Engine.load(gpu.device, file, src, cfg, { ...opts, plan: tablePlan(deviceAdapterText(gpu.device), gpu.hasSubgroups()) });
    try {
      const t = tuned!;
      for (const r of t.roles) expect(r.ms, r.role).toBeGreaterThan(0);
      expect(t.dropped).toEqual([]);
      const ids = Array.from({ length: 30 }, (_, i) => (i * 37 + 11) % cfg.vocabSize);
      const a = [...(await feed(engine, ids, 16)), ...(await feed(engine, [7, 8], 1))];
      const b = [...(await feed(table, ids, 16)), ...(await feed(table, [7, 8], 1))];
      a.forEach((x, i) => expect(agreement(x, b[i])).toBeLessThanOrEqual(AGREEMENT_RMS));
      console.log(`[tune phi3small] ${t.roles.map((r) => `${r.role}: ${r.chosen}`).join('; ')}`);
    } finally {
      engine.destroy();
      table.destroy();
    }
  });
});
