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
import { gpuForTests } from '../gpu/test-gpu.ts';
import { bufferSource } from '../model/gguf-sources.ts';
import { GGMLType, parseGGUF } from '../model/gguf.ts';
import { modelConfigFromGGUF } from '../model/config.ts';
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
// error of a few 1e-7 per sum grows to a few 1e-6 of that after the layers; observed 2.4e-7.
// Tolerance 1e-5; a wrong bias, scale, half or head moves logits by > 1e-3.
const LOGIT_TOL = 1e-5;

const gpu = gpuForTests();

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
export async function compareWithReference(o: Phi3SmallFixture, opts: { ctx: number; chunk: number; promptLen: number; steps: number }): Promise<{ worst: number; spread: number; dispatches: number }> {
  const { file, src, cfg } = await openPhi3Small(o);
  const engineOpts: EngineOptions = { contextLength: opts.ctx, prefillChunk: opts.chunk };
  const engine = await Engine.load(gpu.device, file, src, cfg, engineOpts);
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

    const ref = new RefModel(await loadRefWeights(file, src, cfg), { contextLength: opts.ctx });
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
    expect(worst).toBeLessThanOrEqual(LOGIT_TOL);
    return { worst, spread, dispatches: engine.counters.dispatchesPerDecodeStep };
  } finally {
    engine.destroy();
  }
}

describe('phi3small on the GPU vs the CPU reference, every layer dense', () => {
  const run = { ctx: 64, chunk: 8, promptLen: 21, steps: 8 };
  const cases: [string, Phi3SmallFixture, typeof run][] = [
    ['f32 weights, GQA 4:2', { denseEvery: 1, seed: 1 }, run],
    ['f16 weights, MHA, 3 layers', { denseEvery: 1, seed: 2, weightType: GGMLType.F16, nKvHeads: 4, nLayers: 3 }, run],
    ['128k variant, short factors and short mscale (context 64 <= original 8192)', { denseEvery: 1, seed: 3, longRope: true }, run],
    ['128k variant, long factors and long mscale (context 64 > original 32)', { denseEvery: 1, seed: 4, longRope: true, originalContext: 32 }, run],
    ['prompt in one chunk, GQA 4:1', { denseEvery: 1, seed: 5, nKvHeads: 1 }, { ...run, chunk: 32 }],
  ];
  for (const [label, o, r] of cases) {
    it(label, async () => {
      const { worst, spread, dispatches } = await compareWithReference(o, r);
      const layers = o.nLayers ?? 2;
      // per layer 9, or 10 with the attention's merge pass; + embed, final norm, head, mask, sampler (2)
      expect([9 * layers + 6, 10 * layers + 6]).toContain(dispatches);
      console.log(`[phi3small] ${label}: greedy equal; max |dlogit| ${worst.toExponential(2)} (logits spread over ${spread.toFixed(2)}); ${dispatches} dispatches per decoded token`);
    });
  }
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
