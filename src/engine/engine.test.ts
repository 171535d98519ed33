/**
 * The GPU engine against llama.cpp and against our CPU reference, on generated tiny models in
 * every type mix (plus GQA, LongRoPE, a tied output with partial rotary): a 64-token prompt and
 * 32 greedy steps; and on Phi-3-medium's widths with the output head split across bindings, a
 * 16-token prompt and 4 steps.
 *  - top-1 equals llama.cpp's at every step, and top probabilities agree (tolerance of
 *    forward.ref.test.ts: llama.cpp quantizes activations to 8 bits, we do not);
 *  - logits equal the CPU reference's within f32 summation-order error;
 *  - prefill-then-decode gives the logits of feeding the prompt one token at a time.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { loadRefWeights, logSoftmax, RefModel } from './forward.ref.ts';
import { Engine } from './engine.ts';
import { expectLlamaGreedy, feed, openTestModel, withBindingLimit } from './test-engine.ts';
import { LLAMA_CASES, LLAMA_WIDE_CASES, llamaGreedyFile } from '../../scripts/llama-ref.ts';
import { promptIds } from '../../scripts/prompts.ts';
import { vocabOf } from '../../scripts/test-model-spec.ts';
import { GREEDY } from '../common/sampling.ts';
import { tablePlan, withChoice } from './plan.ts';
import { deviceAdapterText } from '../kernels/tuning.ts';

// Logit tolerance GPU vs CPU reference: both dequantize bit-exactly and store K/V in f16 the same
// way; they differ only in f32 vs f64 accumulation order over sums of up to ffn = 512 terms per
// matmul, 2 layers deep, and the GPU's exp/inverseSqrt (a few ulp). Logits reach |20|, so a
// relative 1e-5 is 2e-4 absolute; observed max 1e-4. Tolerance 2e-3; a wrong element anywhere
// (one nibble, one position) moves logits by > 1e-2. medium-wide sums up to 17920 terms, 35x
// tiny's, in one layer: random-walk rounding grows as the square root, ~6x; observed 1.1e-4.
const LOGIT_TOL = 2e-3;


const gpu = gpuForTests();

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('GPU engine vs llama.cpp and the CPU reference', () => {
  for (const [label, opts, tol, ctx = 256, run = { prompt: 64, steps: 32 }] of [...LLAMA_CASES, ...LLAMA_WIDE_CASES]) {
    it(label, async () => {
      const { path, src, file, cfg } = await openTestModel(opts);
      const prompt = promptIds(run.prompt, vocabOf(opts));
      const trace = await llamaGreedyFile(path, prompt, run.steps, { contextSize: ctx });
      const device = run.maxBinding ? withBindingLimit(gpu.device, run.maxBinding) : gpu.device;
      const engine = await Engine.load(device, file, src, cfg, { contextLength: ctx, slidingWindow: false });
      try {
        // The case exists to run the output head in parts: it must be split.
        if (run.maxBinding) expect(engine.weights.output.parts.length).toBeGreaterThan(1);
        // Greedy generation through the engine's own loop (sampling on the GPU).
        const worstP = await expectLlamaGreedy(engine, prompt, trace, tol, run.steps + 1);

        // Logits at every position vs the CPU reference, prefill in one chunk, then one at a time.
        const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: ctx, slidingWindow: false });
        const seq = trace.ids.slice(0, prompt.length + Math.min(8, run.steps));
        const refLogits = ref.forward(seq, { all: true });
        engine.reset();
        const gpuPrefill = (await feed(engine, prompt)).at(-1) as Float32Array;
        const gpuDecode: Float32Array[] = [];
        for (const id of seq.slice(prompt.length)) gpuDecode.push(...(await feed(engine, [id])));
        let worstLogit = maxAbsDiff(gpuPrefill, refLogits[prompt.length - 1]);
        gpuDecode.forEach((l, i) => (worstLogit = Math.max(worstLogit, maxAbsDiff(l, refLogits[prompt.length + i]))));
        expect(worstLogit).toBeLessThanOrEqual(LOGIT_TOL);

        engine.reset();
        const oneByOne = await feed(engine, seq, 1);
        let worstChunk = 0;
        oneByOne.slice(prompt.length - 1).forEach((l, i) => (worstChunk = Math.max(worstChunk, maxAbsDiff(l, refLogits[prompt.length - 1 + i]))));
        expect(worstChunk).toBeLessThanOrEqual(LOGIT_TOL);
        console.log(
          `[engine] ${label}: ${run.steps + 1} greedy steps equal llama.cpp; max |dp| vs llama.cpp ${worstP.toExponential(2)}; ` +
            `max |dlogit| vs CPU ref ${worstLogit.toExponential(2)} (prefill) ${worstChunk.toExponential(2)} (one at a time); ` +
            `log-softmax check ${logSoftmax(gpuPrefill)[0].toFixed(1)}`,
        );
      } finally {
        engine.destroy();
      }
    });
  }
});

describe('GPU engine with a q8_0 KV cache vs llama.cpp and the CPU reference with one', () => {
  // MHA and GQA, a shorter run than above. Both sides quantize K and V to q8_0 on append; the
  // GPU's rotated k differs from the reference's by f32 rounding (~1e-7 relative), so a quant can
  // differ by one where x / d lies that close to a half-integer (a rounding tie): one element off
  // by d ~ amax / 127, which moves a score by |q_d| d / sqrt(headDim), and the logits by that
  // times a softmax weight and |Wo v|. V is quantized from inputs that differ by the projection's
  // summation order, with the same argument. Observed max |dlogit|: 6.0e-4 (MHA) and 4.8e-6 (GQA),
  // within LOGIT_TOL. Such a flip is the likely cause of the MHA figure (not confirmed): in layer
  // 0, 17 of its 27,648 K and V values lie within 1e-5 (relative) of a rounding tie, 5 of the GQA
  // case's 13,824; the f16-cache runs above stay near 1e-4.
  const Q8_CASES = LLAMA_CASES.filter(([label]) => label === 'tiny q4_k_m' || label === 'tiny q4_k_m GQA');
  for (const [label, opts, tol, ctx = 256] of Q8_CASES) {
    it(label, async () => {
      const { path, src, file, cfg } = await openTestModel(opts);
      const prompt = promptIds(48);
      const steps = 16;
      const trace = await llamaGreedyFile(path, prompt, steps, { contextSize: ctx, kvType: 'q8_0' });
      const engine = await Engine.load(gpu.device, file, src, cfg, { contextLength: ctx, slidingWindow: false, kvType: 'q8_0' });
      try {
        expect(engine.kvType).toBe('q8_0');
        const worstP = await expectLlamaGreedy(engine, prompt, trace, tol, steps + 1);
        const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: ctx, slidingWindow: false, kvType: 'q8_0' });
        const seq = trace.ids.slice(0, prompt.length + 6);
        const refLogits = ref.forward(seq, { all: true });
        engine.reset();
        let worstLogit = maxAbsDiff((await feed(engine, prompt)).at(-1) as Float32Array, refLogits[prompt.length - 1]);
        for (const [i, id] of seq.slice(prompt.length).entries()) {
          worstLogit = Math.max(worstLogit, maxAbsDiff((await feed(engine, [id]))[0], refLogits[prompt.length + i]));
        }
        expect(worstLogit).toBeLessThanOrEqual(LOGIT_TOL);
        console.log(`[engine q8_0 KV] ${label}: ${steps + 1} greedy steps equal llama.cpp (q8_0 KV); max |dp| ${worstP.toExponential(2)}; max |dlogit| vs CPU ref (q8_0 KV) ${worstLogit.toExponential(2)}`);
      } finally {
        engine.destroy();
      }
      // The real-GPU attention variants on the same cache: 'lanes' decode and, with shader-f16,
      // 'rows-f16' prefill (its f16 tiles are within Q_TOL too: tolerance16 in attention.test.ts).
      const table = tablePlan(deviceAdapterText(gpu.device), gpu.hasSubgroups());
      const f16Prefill = gpu.device.features.has('shader-f16') ? { prefillVariant: 'rows-f16' as const } : {};
      const plan = withChoice(withChoice(table, 'attnDecode', { decodeVariant: 'lanes' }), 'attnPrefill', f16Prefill);
      const variants = await Engine.load(gpu.device, file, src, cfg, { contextLength: ctx, slidingWindow: false, kvType: 'q8_0', plan });
      try {
        const worst = await expectLlamaGreedy(variants, prompt, trace, tol, steps + 1);
        console.log(`[engine q8_0 KV, lanes + ${f16Prefill.prefillVariant ?? 'tiled'}] ${label}: greedy equal llama.cpp; max |dp| ${worst.toExponential(2)}`);
      } finally {
        variants.destroy();
      }
    });
  }
});

describe('engine behaviour', () => {
  it('sliding window: matches the CPU reference with a short window over a longer prompt', async () => {
    const { file, src, cfg } = await openTestModel({ preset: 'tiny', mix: 'q8_0', seed: 5, slidingWindow: 16 });
    expect(cfg.slidingWindow).toBe(16);
    const prompt = promptIds(64);
    const engine = await Engine.load(gpu.device, file, src, cfg, { contextLength: 256, prefillChunk: 32 });
    try {
      const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: 256 });
      const noWindow = new RefModel(ref.w, { contextLength: 256, slidingWindow: false });
      const want = ref.forward(prompt, { all: true });
      const unwindowed = noWindow.forward(prompt, { all: true });
      const got = await feed(engine, prompt);
      const decodeGot = await feed(engine, [prompt[5]]);
      const decodeWant = ref.forward([prompt[5]]);
      expect(maxAbsDiff(got[1], want[63])).toBeLessThanOrEqual(LOGIT_TOL);
      expect(maxAbsDiff(decodeGot[0], decodeWant[0])).toBeLessThanOrEqual(LOGIT_TOL);
      // The window must matter for this prompt, or the test proves nothing.
      expect(maxAbsDiff(want[63], unwindowed[63])).toBeGreaterThan(100 * LOGIT_TOL);
    } finally {
      engine.destroy();
    }
  });

  it('weights split across bindings: the unfused decode paths match the CPU reference', async () => {
    // A device that binds at most 64 KiB splits the tiny model's ffn_up (1024 rows, ~147 KB of Q4_K)
    // and ffn_down into row-range parts: decode then runs rmsnorm + matvec + silu_mul instead of the
    // fused SwiGLU GEMV, and Wdown cannot hand the next norm its inputs.
    const { file, src, cfg } = await openTestModel({ preset: 'tiny', mix: 'q4_k_m', seed: 1 });
    const engine = await Engine.load(withBindingLimit(gpu.device, 64 * 1024), file, src, cfg, { contextLength: 256, slidingWindow: false });
    try {
      expect(engine.weights.layers[0].up.parts.length).toBeGreaterThan(1);
      expect(engine.weights.layers[0].down.parts.length).toBeGreaterThan(1);
      const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: 256, slidingWindow: false });
      const seq = promptIds(24);
      const want = ref.forward(seq, { all: true });
      const got = [...(await feed(engine, seq.slice(0, 16))), ...(await feed(engine, seq.slice(16), 1))];
      expect(maxAbsDiff(got[0], want[15])).toBeLessThanOrEqual(LOGIT_TOL);
      got.slice(1).forEach((l, i) => expect(maxAbsDiff(l, want[16 + i]), `decode step ${i}`).toBeLessThanOrEqual(LOGIT_TOL));
      // more than the fused 6 per layer + 4: two more per layer for the unfused feed-forward, and the split parts
      await engine.generate(seq, { maxTokens: 2, sampling: GREEDY });
      expect(engine.counters.dispatchesPerDecodeStep).toBeGreaterThan(8 * cfg.nLayers + 4);
    } finally {
      engine.destroy();
    }
  });

  it('tied output split across bindings: the gather and the head read the same parts of token_embd', async () => {
    // Phi-4-mini's Q6_K token_embd (476 MiB repacked) spans four 128 MiB bindings; the tiny tied
    // model's (6.5 MB) spans seven at 1 MiB, and both the embedding gather and the output head
    // must find each row in its part.
    const { file, src, cfg } = await openTestModel({ preset: 'tiny', mix: 'q4_k_m', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true });
    expect(cfg.tiedOutput).toBe(true);
    const engine = await Engine.load(withBindingLimit(gpu.device, 2 ** 20), file, src, cfg, { contextLength: 256, slidingWindow: false });
    try {
      expect(engine.weights.output).toBe(engine.weights.embed);
      expect(engine.weights.embed.parts.length).toBeGreaterThan(1);
      const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: 256, slidingWindow: false });
      const seq = promptIds(24);
      const want = ref.forward(seq, { all: true });
      const got = [...(await feed(engine, seq.slice(0, 16))), ...(await feed(engine, seq.slice(16), 1))];
      expect(maxAbsDiff(got[0], want[15])).toBeLessThanOrEqual(LOGIT_TOL);
      got.slice(1).forEach((l, i) => expect(maxAbsDiff(l, want[16 + i]), `decode step ${i}`).toBeLessThanOrEqual(LOGIT_TOL));
    } finally {
      engine.destroy();
    }
  });

  it('stops on stop tokens, honours max_tokens, reports context_full, reuses the KV cache', async () => {
    const { file, src, cfg } = await openTestModel({ preset: 'tiny', mix: 'q4_k_m', seed: 1 });
    const engine = await Engine.load(gpu.device, file, src, cfg, { contextLength: 80 });
    try {
      const prompt = promptIds(64);
      const free = await engine.generate(prompt, { maxTokens: 5, sampling: GREEDY });
      expect(free.finishReason).toBe('length');
      expect(free.tokens).toHaveLength(5);
      // Stop on the third token: two are emitted, the stop token is not.
      const stop = await engine.generate(prompt, { maxTokens: 10, sampling: GREEDY, stopIds: [free.tokens[2].id] });
      expect(stop.finishReason).toBe('stop');
      expect(stop.tokens.map((t) => t.id)).toEqual(free.tokens.slice(0, 2).map((t) => t.id));
      // The second request repeats the first's prompt: only its last token is recomputed.
      expect(stop.cachedTokens).toBe(63);
      // A follow-up turn that extends the conversation prefills only the new tokens.
      const turn2 = [...prompt, ...stop.tokens.map((t) => t.id), 13, 29871];
      const before = engine.counters.prefillTokens;
      await engine.generate(turn2, { maxTokens: 1, sampling: GREEDY });
      expect(engine.counters.prefillTokens - before).toBe(turn2.length - (prompt.length + 2));
      // The context holds 80 positions: 64 + 16 generated fills it.
      engine.reset();
      const full = await engine.generate(prompt, { maxTokens: 100, sampling: GREEDY });
      expect(full.finishReason).toBe('context_full');
      expect(full.tokens.length).toBe(80 - 64 + 1);
      await expect(engine.generate(promptIds(64).concat(promptIds(20)), { maxTokens: 1, sampling: GREEDY })).rejects.toThrow(/context holds 80/);
      // Abort between steps.
      const ctl = new AbortController();
      const aborted = await engine.generate(prompt, { maxTokens: 10, sampling: GREEDY, signal: ctl.signal, onToken: () => ctl.abort() });
      expect(aborted.finishReason).toBe('abort');
      expect(aborted.tokens).toHaveLength(1);
      // No per-token allocation: the decode step's dispatch count is fixed and small.
      expect(engine.counters.dispatchesPerDecodeStep).toBeGreaterThan(0);
    } finally {
      engine.destroy();
    }
  });

  it('seeded sampling is reproducible and differs across seeds', async () => {
    const { file, src, cfg } = await openTestModel({ preset: 'tiny', mix: 'q4_0', seed: 1 });
    const engine = await Engine.load(gpu.device, file, src, cfg, { contextLength: 128 });
    try {
      const prompt = promptIds(16);
      const run = async (seed: number) =>
        (await engine.generate(prompt, { maxTokens: 12, sampling: { temperature: 1.5, topK: 40, topP: 0.95, repetitionPenalty: 1, seed } })).tokens.map((t) => t.id);
      const a = await run(1);
      const b = await run(1);
      const c = await run(2);
      expect(a).toEqual(b);
      expect(c).not.toEqual(a);
    } finally {
      engine.destroy();
    }
  });
});
