/**
 * The CPU reference forward pass against llama.cpp on generated models: same greedy tokens at
 * every step of a 64-token prompt + 32 steps (shorter for the wide models), and the same top
 * probabilities.
 */
import { describe, expect, it } from 'vitest';
import { fileSource } from '../model/source-node.ts';
import { readGGUF } from '../model/gguf.ts';
import { modelConfigFromGGUF } from '../model/config.ts';
import { loadRefWeights, logSoftmax, RefModel, argmax } from './forward.ref.ts';
import { LLAMA_CASES, LLAMA_WIDE_CASES, llamaGreedyFile, Q_TOL, type LlamaCase } from '../../scripts/llama-ref.ts';
import { ensureModel } from '../../scripts/test-models.ts';
import { promptIds } from '../../scripts/prompts.ts';
import { vocabOf } from '../../scripts/test-model-spec.ts';

const CASES: LlamaCase[] = [
  ...LLAMA_CASES,
  // LongRoPE: a context below the original (512) selects the short factors too.
  ['tiny q4_0 LongRoPE, short factors (context below the original)', { preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 2048 }, Q_TOL, 256],
  ...LLAMA_WIDE_CASES,
];
describe('CPU reference forward pass vs llama.cpp', () => {
  for (const [label, opts, tol, ctx = 256, run = { prompt: 64, steps: 32 }] of CASES) {
    it(label, async () => {
      const path = await ensureModel(opts);
      const src = await fileSource(path);
      const file = await readGGUF(src);
      const cfg = modelConfigFromGGUF(file);
      const prompt = promptIds(run.prompt, vocabOf(opts));
      const trace = await llamaGreedyFile(path, prompt, run.steps, { contextSize: ctx });
      // llama.cpp 3.21.1 does not apply phi3's sliding window; neither may we when comparing.
      const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: ctx, slidingWindow: false });
      const logits = ref.forward(trace.ids, { all: true });
      let worst = 0;
      let minMargin = Infinity;
      for (let s = 0; s < trace.steps.length; s++) {
        const at = prompt.length - 1 + s;
        const lp = logSoftmax(logits[at]);
        const theirs = trace.steps[s].top;
        minMargin = Math.min(minMargin, Math.log(theirs[0][1] / theirs[1][1]));
        expect(argmax(logits[at]), `step ${s}: top-1`).toBe(theirs[0][0]);
        for (const [tok, p] of theirs.slice(0, 5)) {
          const diff = Math.abs(Math.exp(lp[tok]) - p);
          worst = Math.max(worst, diff);
          expect(diff, `step ${s} token ${tok}`).toBeLessThanOrEqual(tol);
        }
      }
      console.log(`[ref vs llama.cpp] ${label}: ${trace.steps.length} steps, max |p_ours - p_llama| over top-5 = ${worst.toExponential(2)}, min llama top-2 log-margin ${minMargin.toFixed(2)}`);
    });
  }
});

describe('CPU reference with a q8_0 KV cache vs llama.cpp with a q8_0 KV cache', () => {
  // MHA and GQA; a shorter run than above (the cache's effect shows from the first step).
  const Q8_CASES = LLAMA_CASES.filter(([label]) => label === 'tiny q4_k_m' || label === 'tiny q4_k_m GQA');
  for (const [label, opts, tol, ctx = 256] of Q8_CASES) {
    it(label, async () => {
      const path = await ensureModel(opts);
      const src = await fileSource(path);
      const file = await readGGUF(src);
      const cfg = modelConfigFromGGUF(file);
      const prompt = promptIds(48);
      const trace = await llamaGreedyFile(path, prompt, 16, { contextSize: ctx, kvType: 'q8_0' });
      const w = await loadRefWeights(file, src, cfg);
      const logits = new RefModel(w, { contextLength: ctx, slidingWindow: false, kvType: 'q8_0' }).forward(trace.ids, { all: true });
      let worst = 0;
      for (let s = 0; s < trace.steps.length; s++) {
        const at = prompt.length - 1 + s;
        const lp = logSoftmax(logits[at]);
        const theirs = trace.steps[s].top;
        expect(argmax(logits[at]), `step ${s}: top-1`).toBe(theirs[0][0]);
        for (const [tok, p] of theirs.slice(0, 5)) {
          const diff = Math.abs(Math.exp(lp[tok]) - p);
          worst = Math.max(worst, diff);
          expect(diff, `step ${s} token ${tok}`).toBeLessThanOrEqual(tol);
        }
      }
      // For the log: how far the f16-cache reference's first step is from llama.cpp's q8_0 run.
      const f16 = logSoftmax(new RefModel(w, { contextLength: ctx, slidingWindow: false }).forward(trace.ids.slice(0, prompt.length))[0]);
      const q8 = logSoftmax(logits[prompt.length - 1]);
      const top = trace.steps[0].top[0];
      console.log(`[ref q8_0 KV vs llama.cpp q8_0 KV] ${label}: ${trace.steps.length} steps, max |dp| top-5 = ${worst.toExponential(2)}; first step |dp| top-1: q8_0 ref ${Math.abs(Math.exp(q8[top[0]]) - top[1]).toExponential(2)}, f16 ref ${Math.abs(Math.exp(f16[top[0]]) - top[1]).toExponential(2)}`);
    });
  }
});

describe('sliding window and llama.cpp', () => {
  // PHI3.md 2.4: transformers applies phi3's sliding window; the llama.cpp in node-llama-cpp
  // 3.21.1 does not. Two files that differ only in the key give llama.cpp identical outputs,
  // while our reference (which applies it, as transformers does) differs: so the window is
  // checked against our CPU reference (engine.test.ts), and against llama.cpp only without it.
  it('llama.cpp ignores phi3.attention.sliding_window', async () => {
    const withKey = await ensureModel({ preset: 'tiny', mix: 'q8_0', seed: 5, slidingWindow: 16 });
    const withoutKey = await ensureModel({ preset: 'tiny', mix: 'q8_0', seed: 5, slidingWindow: null });
    const prompt = promptIds(64);
    const dists = [await llamaGreedyFile(withKey, prompt, 4), await llamaGreedyFile(withoutKey, prompt, 4)];
    expect(dists[0].ids).toEqual(dists[1].ids);
    dists[0].steps.forEach((s, i) => expect(s.top).toEqual(dists[1].steps[i].top));
    // ...while the window does change the model's output (our reference applies it).
    const src = await fileSource(withKey);
    const file = await readGGUF(src);
    const cfg = modelConfigFromGGUF(file);
    expect(cfg.slidingWindow).toBe(16);
    const w = await loadRefWeights(file, src, cfg);
    const windowed = logSoftmax(new RefModel(w, { contextLength: 256 }).forward(prompt)[0]);
    const full = logSoftmax(new RefModel(w, { contextLength: 256, slidingWindow: false }).forward(prompt)[0]);
    const llamaTop = dists[0].steps[0].top[0];
    expect(Math.abs(Math.exp(full[llamaTop[0]]) - llamaTop[1])).toBeLessThanOrEqual(Q_TOL);
    expect(Math.abs(Math.exp(windowed[llamaTop[0]]) - llamaTop[1])).toBeGreaterThan(Q_TOL);
  });
});
