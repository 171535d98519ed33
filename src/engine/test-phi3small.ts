/**
 * Test support for phi3small on the engine: a tiny generated file opened from memory, and the
 * comparison of the GPU engine with the CPU reference on it (phi3small-engine.test.ts,
 * phi3small-sparse.test.ts).
 */
import { expect } from 'vitest';
import { bufferSource } from '../model/gguf-sources.ts';
import { parseGGUF } from '../model/gguf.ts';
import { modelConfigFromGGUF, type KvType, type ModelConfig } from '../model/config.ts';
import type { KernelPlan } from './plan.ts';
import { phi3smallFile, type Phi3SmallFixture } from '../model/test-phi3small.ts';
import { MASKED_LOGIT } from '../kernels/logit_mask.ts';
import { GREEDY } from '../common/sampling.ts';
import { argmax, loadRefWeights, RefModel } from './forward.ref.ts';
import { Engine, type EngineOptions } from './engine.ts';
import { feed } from './test-engine.ts';

// Logit tolerance GPU vs CPU reference: both dequantize bit-exactly, store K/V rounded to f16 the
// same way and fold nothing differently (the logit scale 1/8 is a power of two: exact on both
// sides); they differ only in f32 vs f64 accumulation over sums of at most 2 ffn = 192 terms and
// the LayerNorm sums over dim = 64, 2 layers deep, and the GPU's exp/inverseSqrt (a few ulp).
// The logits spread over ~2 (checked below, so the bound means something), and f32's relative
// error of a few 1e-7 per sum grows to a few 1e-6 of that after the layers; observed 2.4e-7 with
// the table plan, 2.8e-6 with split-K and Wo-merging variants (another summation order).
// Tolerance 1e-5 (a plan with f16 GEMV math passes its own); a wrong bias, scale, half or head
// moves logits by > 1e-3.
const LOGIT_TOL = 1e-5;

/** The file's header read and checked, and its bytes as a source. */
export async function openPhi3Small(o: Phi3SmallFixture) {
  const bytes = phi3smallFile(o);
  const file = await parseGGUF(bytes);
  return { file, src: bufferSource(bytes), cfg: modelConfigFromGGUF(file) };
}

/** The largest |a - b| over the ids not masked; the masked ones must be MASKED_LOGIT on both sides. */
function maxAbsDiff(a: Float32Array, b: Float32Array, masked: readonly number[]): number {
  const skip = new Set(masked);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (skip.has(i)) {
      expect([a[i], b[i]]).toEqual([Math.fround(MASKED_LOGIT), Math.fround(MASKED_LOGIT)]);
      continue;
    }
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

/**
 * Loads the file on the GPU and checks it against the reference: `promptLen` tokens prefilled in
 * chunks of `chunk`, then `steps` decode steps; the engine's greedy tokens, then its logits.
 * Returns the largest logit difference and the dispatches of a decode step.
 */
export async function compareWithReference(
  device: GPUDevice,
  o: Phi3SmallFixture,
  opts: { ctx: number; chunk: number; promptLen: number; steps: number; plan?: (cfg: ModelConfig) => KernelPlan; kvType?: KvType; tol?: number },
): Promise<{ worst: number; spread: number; dispatches: number; cfg: ModelConfig; weightParts: number }> {
  const { file, src, cfg } = await openPhi3Small(o);
  const engineOpts: EngineOptions = { contextLength: opts.ctx, prefillChunk: opts.chunk, plan: opts.plan?.(cfg), kvType: opts.kvType };
  const engine = await Engine.load(device, file, src, cfg, engineOpts);
  try {
    // a prompt of ids spread over the vocabulary, masked ones included (they are valid input)
    const prompt = Array.from({ length: opts.promptLen }, (_, i) => (i * 37 + 11) % cfg.vocabSize);
    prompt[3] = cfg.maskedIds[0];
    const res = await engine.generate(prompt, { maxTokens: opts.steps + 1, sampling: GREEDY, topLogprobs: 3 });
    expect(res.tokens.length).toBe(opts.steps + 1);
    const generated = res.tokens.map((t) => t.id);
    for (const t of res.tokens) {
      expect(cfg.maskedIds).not.toContain(t.id);
      for (const [, lp] of t.top) expect(Number.isFinite(lp)).toBe(true);
    }

    const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: opts.ctx, kvType: opts.kvType });
    const seq = [...prompt, ...generated];
    const refLogits = ref.forward(seq.slice(0, -1), { all: true });
    const live = [...refLogits[prompt.length - 1]].filter((_, id) => !cfg.maskedIds.includes(id));
    const spread = Math.max(...live) - Math.min(...live);
    expect(spread).toBeGreaterThan(0.5);
    // greedy: the engine's token at each step is the reference's argmax there
    generated.forEach((id, s) => expect(id, `step ${s}`).toBe(argmax(refLogits[prompt.length - 1 + s])));

    engine.reset();
    let worst = maxAbsDiff((await feed(engine, prompt)).at(-1) as Float32Array, refLogits[prompt.length - 1], cfg.maskedIds);
    for (const [s, id] of generated.slice(0, -1).entries()) {
      worst = Math.max(worst, maxAbsDiff((await feed(engine, [id]))[0], refLogits[prompt.length + s], cfg.maskedIds));
    }
    expect(worst).toBeLessThanOrEqual(opts.tol ?? LOGIT_TOL);
    // parts of every weight a decode step reads (more than one per tensor where split by rows)
    const w = engine.weights;
    const weightParts = w.layers.reduce((n, l) => n + l.qkv.parts.length + l.wo.parts.length + l.up.parts.length + l.down.parts.length, 0) + w.embed.parts.length + w.output.parts.length;
    return { worst, spread, dispatches: engine.counters.dispatchesPerDecodeStep, cfg, weightParts };
  } finally {
    engine.destroy();
  }
}
