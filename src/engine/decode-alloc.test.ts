/**
 * No per-token allocation: after load, a whole generate (prefill, pipelined decode, sampling)
 * creates no GPU buffers and no bind groups, whatever the number of tokens. The device is
 * wrapped so every createBuffer / createBindGroup call through it is counted; the counter is
 * shown to work on a call that does allocate (readLogits makes its staging buffer).
 * Also: one readback per token, and the decode step's dispatch count is the fused path's
 * 6 per layer + 4 (embed, norm + lm_head, two sampler passes), one per layer fewer (no merge
 * pass) where the Wo GEMV merges the attention partials itself; the same with an f16 or a q8_0
 * KV cache. And the engine's own GPU accounting (gpuBytes) is every byte it created through the
 * device.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { Engine } from './engine.ts';
import { countingDevice, openTestModel, readLogits } from './test-engine.ts';
import { promptIds } from '../../scripts/prompts.ts';
import { variantFamilies } from './candidates.ts';
import { tablePlan, withChoice, type KernelPlan, type KernelRole } from './plan.ts';
import { deviceAdapterText } from '../kernels/tuning.ts';
import type { ModelConfig } from '../model/config.ts';
import type { ModelOptions } from '../../scripts/test-model-spec.ts';

const gpu = gpuForTests();

/**
 * The table's plan, and one with the real-GPU variants the device can run on every role at once
 * (row-group GEMVs, f16 GEMV math, split-K Wo and down, register-tiled GEMMs, lanes attention, Wo
 * merging the attention partials): the promises are the graph's, whichever kernels fill it.
 */
function plans(cfg: ModelConfig): [string, KernelPlan | undefined][] {
  const table = tablePlan(deviceAdapterText(gpu.device), gpu.hasSubgroups());
  let variants = table;
  for (const fam of variantFamilies(gpu.device, cfg)) {
    if (fam.reason || !/row groups with f16|GEMV split-K|register-tiled GEMM 64 x 32|lanes along the head dimension, workgroup-memory|Wo GEMV merging/.test(fam.name)) continue;
    for (const [role, choice] of Object.entries(fam.roles)) variants = withChoice(variants, role as KernelRole, choice);
  }
  return [
    ['table plan', undefined],
    ['real-GPU variants', variants],
  ];
}

const TINY: ModelOptions = { preset: 'tiny', mix: 'q4_k_m', seed: 1 };
// Phi-4-mini's differences: the head reads token_embd, 48 of 64 dims rotate, 4 query heads per KV head.
const TIED: ModelOptions = { preset: 'tiny', mix: 'q4_k_m', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true };

describe('decode allocates nothing per token', () => {
  it.for([
    ['table plan', TINY],
    ['real-GPU variants', TINY],
    ['table plan, tied output + partial rotary + GQA 4:1', TIED],
    ['table plan, q8_0 KV cache', TINY],
    ['real-GPU variants, q8_0 KV cache', TINY],
  ] as const)('%s: generate creates no buffers or bind groups, for 2 or 20 tokens', async ([label, model]) => {
    const which = label.startsWith('table plan') ? 'table plan' : 'real-GPU variants';
    const kvType = label.endsWith('q8_0 KV cache') ? 'q8_0' : 'f16';
    const { src, file, cfg } = await openTestModel(model);
    const plan = plans(cfg).find(([name]) => name === which)![1];
    if (plan) expect(plan).not.toEqual(tablePlan(deviceAdapterText(gpu.device), gpu.hasSubgroups()));
    const { device: counted, counts } = countingDevice(gpu.device);
    const engine = await Engine.load(counted, file, src, cfg, { contextLength: 256, plan, kvType });
    try {
      expect(counts.createBuffer, 'load goes through the counted device').toBeGreaterThan(0);
      expect(engine.gpuBytes, 'gpuBytes counts every buffer the load made').toBe(counts.bufferBytes);
      expect(engine.kvBytes).toBe(2 * cfg.nLayers * cfg.nKvHeads * 256 * (kvType === 'f16' ? cfg.headDim * 2 : cfg.headDim + 4 * Math.ceil(cfg.headDim / 64)));
      const prompt = promptIds(40);
      for (const maxTokens of [2, 20]) {
        const before = { ...counts };
        const readbacks = engine.counters.readbacks;
        const res = await engine.generate(prompt, { maxTokens, topLogprobs: 3, sampling: { temperature: 0.8, topK: 20, topP: 1, seed: 7, repetitionPenalty: 1.1 } });
        expect(res.tokens).toHaveLength(maxTokens);
        expect(counts, `generate of ${maxTokens} tokens`).toEqual(before);
        // One readback per token (the prefill's sample, then one per decode step).
        expect(engine.counters.readbacks - readbacks).toBe(maxTokens);
      }
      // the merge pass goes where Wo merges the partials: one dispatch per layer fewer
      const merges = plan?.gemv.wo.mergeAttention === true;
      if (which === 'real-GPU variants') expect(merges, 'the variants plan merges in Wo where the device can').toBe(!variantFamilies(gpu.device, cfg).find((f) => /Wo GEMV merging/.test(f.name))?.reason);
      expect(engine.counters.dispatchesPerDecodeStep).toBe((merges ? 5 : 6) * cfg.nLayers + 4);
      // The counter works: reading the logits allocates a staging buffer.
      const before = counts.createBuffer;
      await readLogits(engine);
      expect(counts.createBuffer).toBe(before + 1);
    } finally {
      engine.destroy();
    }
  });
});
