/**
 * Each kernel variant forced on every role it serves (src/engine/candidates.ts variantFamilies),
 * in turn, through the whole model: greedy tokens equal llama.cpp's with its top-5 probabilities
 * within the same tolerance as the default plan's comparison (src/engine/engine.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { Engine } from './engine.ts';
import { expectLlamaGreedy, openTestModel } from './test-engine.ts';
import { LLAMA_CASES, llamaGreedyFile } from '../../scripts/llama-ref.ts';
import { promptIds } from '../../scripts/prompts.ts';
import { variantFamilies } from './candidates.ts';
import { tablePlan, withChoice, type KernelPlan, type KernelRole } from './plan.ts';
import { deviceAdapterText } from '../kernels/tuning.ts';

const gpu = gpuForTests();

// Q4_K_M (Q4_K, Q5_K and Q6_K tensors: the formats of the files the app runs) with grouped-query
// attention. Every other format meets every variant in the kernels' own tests; one case keeps
// the sixteen whole-model loads within the suite's time.
const CASES = LLAMA_CASES.filter(([label]) => label === 'tiny q4_k_m GQA');

describe('every kernel variant through the whole model, vs llama.cpp', () => {
  it('has the case it names', () => expect(CASES.length).toBe(1));
  for (const [label, opts, tol, ctx = 256] of CASES) {
    it(label, async () => {
      const { path, src, file, cfg } = await openTestModel(opts);
      const prompt = promptIds(64);
      const trace = await llamaGreedyFile(path, prompt, 32, { contextSize: ctx });
      const table = tablePlan(deviceAdapterText(gpu.device), gpu.hasSubgroups());
      const families = variantFamilies(gpu.device, cfg);
      const lines: string[] = [];
      for (const fam of families) {
        if (fam.reason) {
          lines.push(`${fam.name}: not on this device (${fam.reason})`);
          continue;
        }
        let plan: KernelPlan = table;
        for (const [role, choice] of Object.entries(fam.roles)) plan = withChoice(plan, role as KernelRole, choice);
        const engine = await Engine.load(gpu.device, file, src, cfg, { contextLength: ctx, slidingWindow: false, prefillChunk: 32, plan });
        try {
          const worstP = await expectLlamaGreedy(engine, prompt, trace, tol);
          lines.push(`${fam.name}: 33 greedy steps equal, max |dp| ${worstP.toExponential(2)}`);
        } catch (e) {
          throw new Error(`${label}, ${fam.name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        } finally {
          engine.destroy();
        }
      }
      console.log(`[variants] ${label}:\n  ${lines.join('\n  ')}`);
    });
  }
});
