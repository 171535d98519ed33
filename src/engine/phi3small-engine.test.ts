/**
 * The GPU engine on phi3small (src/model/PHI3SMALL.md) against the CPU reference
 * (src/engine/forward.ref.ts), on tiny generated files with every layer dense
 * (dense_every_n_layers = 1): a prompt prefilled in chunks, then one-token decode steps; the
 * logits at each step, and the engine's own greedy generation (sampling on the GPU) against the
 * reference's argmax. Cases: f32 and f16 weights, GQA, the 128k variant's rope factors with the
 * short set and with the long set (and their mscales). The sparse layers' GPU run is in
 * phi3small-sparse.test.ts; their CPU reference is checked here.
 */
import { describe, expect, it } from 'vitest';
import { GGMLType } from '../model/gguf.ts';
import type { Phi3SmallFixture } from '../model/test-phi3small.ts';
import { loadRefWeights, RefModel } from './forward.ref.ts';
import { compareWithReference, openPhi3Small } from './test-phi3small.ts';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { variantFamilies } from './candidates.ts';
import { tablePlan, withChoice, type KernelPlan, type KernelRole } from './plan.ts';
import { deviceAdapterText } from '../kernels/tuning.ts';
import type { ModelConfig } from '../model/config.ts';
import { countingDevice, withBindingLimit } from './test-engine.ts';
import { Engine } from './engine.ts';
import { GREEDY } from '../common/sampling.ts';

const gpu = gpuForTests();

/**
 * The table plan with the real-GPU variants this device can run (as decode-alloc.test.ts picks
 * them); `f16`: with the GEMVs' f16 math too.
 */
function variantsPlan(cfg: ModelConfig, f16 = false): KernelPlan {
  let plan = tablePlan(deviceAdapterText(gpu.device), gpu.hasSubgroups());
  for (const fam of variantFamilies(gpu.device, cfg)) {
    if (fam.reason || !(f16 && /row groups with f16/.test(fam.name)) && !/GEMV split-K|register-tiled GEMM 64 x 32|lanes along the head dimension, workgroup-memory|Wo GEMV merging/.test(fam.name)) continue;
    for (const [role, choice] of Object.entries(fam.roles)) plan = withChoice(plan, role as KernelRole, choice);
  }
  return plan;
}

describe('phi3small on the GPU vs the CPU reference, every layer dense', () => {
  const run: Parameters<typeof compareWithReference>[2] = { ctx: 64, chunk: 8, promptLen: 21, steps: 8 };
  const cases: [string, Phi3SmallFixture, typeof run][] = [
    ['f32 weights, GQA 4:2', { denseEvery: 1, seed: 1 }, run],
    ['f16 weights, MHA, 3 layers', { denseEvery: 1, seed: 2, weightType: GGMLType.F16, nKvHeads: 4, nLayers: 3 }, run],
    ['128k variant, short factors and short mscale (context 64 <= original 8192)', { denseEvery: 1, seed: 3, longRope: true }, run],
    ['128k variant, long factors and long mscale (context 64 > original 32)', { denseEvery: 1, seed: 4, longRope: true, originalContext: 32 }, run],
    ['prompt in one chunk, GQA 4:1', { denseEvery: 1, seed: 5, nKvHeads: 1 }, { ...run, chunk: 32 }],
    ['real-GPU kernel variants (Wo merging the attention, split-K, row groups, lanes)', { denseEvery: 1, seed: 6, weightType: GGMLType.F16 }, { ...run, plan: variantsPlan }],
    // f16 products and activations: each term is off by up to 2^-11 relative, so the logits (spread
    // ~3) move by ~1e-4 to 1e-3 (observed 3.9e-4 on lavapipe); tolerance 2e-3. (No shader-f16 on
    // SwiftShader: the f32 variants run there instead.)
    ['real-GPU kernel variants with f16 GEMV math', { denseEvery: 1, seed: 6, weightType: GGMLType.F16 }, { ...run, plan: (cfg) => variantsPlan(cfg, true), tol: 2e-3 }],
    ['q8_0 KV cache, head size 32', { denseEvery: 1, seed: 7, dim: 128, nHeads: 4, nKvHeads: 2, ffnDim: 160 }, { ...run, kvType: 'q8_0' }],
  ];
  for (const [label, o, r] of cases) {
    it(label, async () => {
      const { worst, spread, dispatches, cfg, weightParts } = await compareWithReference(gpu.device, o, r);
      const L = cfg.nLayers;
      expect(weightParts).toBe(4 * L + 2); // nothing split by rows: one dispatch per weight
      // per layer 9, and the attention's merge pass unless Wo merges the partials itself; + embed,
      // final norm, head, mask, and the sampler's 2
      const merges = r.plan?.(cfg).gemv.wo.mergeAttention === true;
      expect(dispatches).toBe((merges ? 9 : 10) * L + 6);
      console.log(`[phi3small] ${label}: greedy equal; max |dlogit| ${worst.toExponential(2)} (logits spread over ${spread.toFixed(2)}); ${dispatches} dispatches per decoded token`);
    });
  }
});

describe('phi3small decode allocates nothing per token', () => {
  it('generate creates no buffers or bind groups, and gpuBytes counts every buffer the load made', async () => {
    const { file, src, cfg } = await openPhi3Small({ denseEvery: 1, seed: 10 });
    const { device, counts } = countingDevice(gpu.device);
    const engine = await Engine.load(device, file, src, cfg, { contextLength: 64, prefillChunk: 8 });
    try {
      expect(engine.gpuBytes).toBe(counts.bufferBytes);
      const prompt = Array.from({ length: 20 }, (_, i) => (i * 7 + 1) % cfg.vocabSize);
      for (const [maxTokens, sampling] of [[2, GREEDY], [12, { temperature: 0.8, topK: 20, topP: 0.9, seed: 3, repetitionPenalty: 1.1 }]] as const) {
        const before = { ...counts };
        const res = await engine.generate(prompt, { maxTokens, topLogprobs: 3, sampling });
        expect(res.tokens).toHaveLength(maxTokens);
        for (const t of res.tokens) expect(cfg.maskedIds).not.toContain(t.id);
        expect(counts, `generate of ${maxTokens} tokens`).toEqual(before);
      }
    } finally {
      engine.destroy();
    }
  });
});

describe('phi3small with weights split by rows (a small binding limit)', () => {
  it('the tied table gathered and read as the head in parts, ffn_up and QKV in parts', async () => {
    // 32 KiB: token_embd (300 x 64 f32, 75 KiB) in 3 parts, ffn_up (192 rows, 48 KiB) in 2
    const device = withBindingLimit(gpu.device, 32768);
    const { worst, weightParts, cfg } = await compareWithReference(device, { denseEvery: 1, seed: 9 }, { ctx: 64, chunk: 8, promptLen: 21, steps: 6 });
    expect(weightParts).toBeGreaterThan(4 * cfg.nLayers + 2);
    console.log(`[phi3small] split weights: greedy equal; max |dlogit| ${worst.toExponential(2)}; ${weightParts} weight parts`);
  });
});

describe('the CPU reference on sparse layers (src/kernels/attention.ts keyVisible)', () => {
  const ids = Array.from({ length: 40 }, (_, i) => (i * 13 + 5) % 300);
  const logitsOf = async (o: Phi3SmallFixture) => {
    const { file, src, cfg } = await openPhi3Small(o);
    return new RefModel(await loadRefWeights(file, src, cfg), { contextLength: 64 }).forward(ids, { all: true });
  };

  it('a pattern that hides nothing (local blocks cover the context) equals dense attention', async () => {
    const dense = await logitsOf({ denseEvery: 1, seed: 8 });
    const sparse = await logitsOf({ denseEvery: 2, seed: 8, blockSize: 4, localBlocks: 16 });
    sparse.forEach((l, i) => expect(l).toEqual(dense[i]));
  });

  it('a pattern that hides keys changes exactly the positions that have hidden keys', async () => {
    const dense = await logitsOf({ denseEvery: 1, seed: 8 });
    // block 4, 2 local blocks: positions 0..7 see every earlier key (blocks 0 and 1 are local)
    const sparse = await logitsOf({ denseEvery: 2, seed: 8, blockSize: 4, localBlocks: 2, vertStride: 3 });
    for (let i = 0; i < 8; i++) expect(sparse[i]).toEqual(dense[i]);
    for (let i = 8; i < ids.length; i++) expect(Math.max(...sparse[i].map((v, j) => Math.abs(v - dense[i][j])))).toBeGreaterThan(1e-6);
  });
});
