/**
 * readModel / openModel on the tiny generated model. Would fail if the warm-up left state behind
 * (cached tokens, a penalty history, a KV cache the next reply reuses), if a failed warm-up kept
 * the engine's buffers, or if readModel's tokenizer did not match the model's vocabulary.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fileSource, type FileByteSource } from '../model/source-node.ts';
import { ensureModel } from '../../scripts/test-models.ts';
import { GREEDY } from '../common/sampling.ts';
import { ContextFullError } from '../common/errors.ts';
import { Engine } from './engine.ts';
import { openModel, readModel } from './open.ts';
import { gpuForTests } from '../gpu/test-gpu.ts';

const gpu = gpuForTests();
const opened: FileByteSource[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of opened.splice(0)) await s.close();
});

async function tinySource(): Promise<FileByteSource> {
  const src = await fileSource(await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 }));
  opened.push(src);
  return src;
}

describe('readModel', () => {
  it('reads the header, config and a tokenizer of the whole vocabulary, and keeps the source', async () => {
    const src = await tinySource();
    const m = await readModel(src);
    expect(m.src).toBe(src);
    expect(m.cfg.nLayers).toBe(2);
    expect(m.tokenizer.size).toBe(m.cfg.vocabSize);
    expect(m.vocab.tokens.length).toBe(m.cfg.vocabSize);
  });
});

describe('openModel', () => {
  it('a warm-up leaves nothing behind: the next generation equals one on an engine that never warmed up', async () => {
    const prompt = [1, 5, 9, 200, 31, 7];
    const run = async (warmUp?: { promptTokens: number; maxTokens: number }) => {
      const { engine } = await openModel(gpu.device, await readModel(await tinySource()), { contextLength: 128, warmUp });
      try {
        expect(engine.cachedTokens).toEqual([]);
        const res = await engine.generate(prompt, { maxTokens: 6, sampling: { ...GREEDY, repetitionPenalty: 1.3 }, topLogprobs: 3 });
        return { cached: res.cachedTokens, tokens: res.tokens };
      } finally {
        engine.destroy();
      }
    };
    const cold = await run();
    const warm = await run({ promptTokens: 4, maxTokens: 2 });
    expect(warm.cached).toBe(0);
    expect(warm.tokens.map((t) => t.id)).toEqual(cold.tokens.map((t) => t.id));
    expect(warm.tokens.map((t) => t.top)).toEqual(cold.tokens.map((t) => t.top));
  });

  it('a warm-up that fails destroys the engine it made and rejects with its error', async () => {
    const destroy = vi.spyOn(Engine.prototype, 'destroy');
    const model = await readModel(await tinySource());
    // a warm-up prompt longer than the context: generate refuses it
    await expect(openModel(gpu.device, model, { contextLength: 16, warmUp: { promptTokens: 17, maxTokens: 1 } })).rejects.toBeInstanceOf(ContextFullError);
    expect(destroy).toHaveBeenCalledTimes(1);
  });
});
