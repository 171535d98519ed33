/**
 * Our generated GGUFs are valid by an implementation nobody here wrote: llama.cpp (node-llama-cpp
 * 3.21.1) loads every preset and type mix, agrees with our reader on the metadata, and produces
 * finite, peaked next-token probabilities.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGGUFFile } from '../src/model/source-node.ts';
import { modelConfigFromGGUF } from '../src/model/config.ts';
import { GGMLType } from '../src/model/gguf-types.ts';
import { loadLlamaModel, llamaNextTokenDistributions } from './llama-ref.ts';
import { ensureModel } from './test-models.ts';
import { buildWriter, makeTestModel } from './make-test-model.ts';
import type { ModelOptions } from './test-model-spec.ts';
import { readGGUF } from '../src/model/gguf.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { bpeSmallVocab } from './bpe-small-vocab.ts';
import { createTokenizer } from '../src/model/create-tokenizer.ts';
import { vocabFromMetadata } from '../src/model/vocab.ts';

const CASES: [string, ModelOptions][] = [
  ['tiny f32', { preset: 'tiny', mix: 'f32', seed: 1 }],
  ['tiny q4_0', { preset: 'tiny', mix: 'q4_0', seed: 1 }],
  ['tiny q8_0', { preset: 'tiny', mix: 'q8_0', seed: 1 }],
  ['tiny q4_k_m', { preset: 'tiny', mix: 'q4_k_m', seed: 1 }],
  ['tiny q4_k_m GQA (4 heads, 2 kv heads)', { preset: 'tiny', mix: 'q4_k_m', seed: 2, nKvHeads: 2 }],
  ['tiny q4_0 LongRoPE', { preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 2048 }],
  ['tiny q8_0 without sliding_window key', { preset: 'tiny', mix: 'q8_0', seed: 4, slidingWindow: null }],
  ['tiny q4_k_m tied output, partial rotary 48/64, GQA 4:1', { preset: 'tiny', mix: 'q4_k_m', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true }],
  ['small q4_k_m', { preset: 'small', mix: 'q4_k_m', seed: 1 }],
];

// "Hello world, how are you" with BOS: a short real-text prompt.
const PROMPT = [1, 15043, 3186, 29892, 920, 526, 366];

describe('generated phi3 GGUFs load in llama.cpp', () => {
  for (const [label, opts] of CASES) {
    it(label, async () => {
      const path = await ensureModel(opts);
      const ours = await readGGUFFile(path);
      const cfg = modelConfigFromGGUF(ours);
      const model = await loadLlamaModel(path);
      try {
        // Metadata as llama.cpp reads it vs ours.
        expect(model.trainContextSize).toBe(cfg.contextLength);
        expect(model.embeddingVectorSize).toBe(cfg.dim);
        expect(model.tokens.bos).toBe(1);
        expect(model.tokens.eos).toBe(32000);
        expect([...model.iterateAllTokens()].length).toBe(cfg.vocabSize);
        expect(model.typeDescription).toMatch(/^phi3 /);
        // llama_model_size is the sum of the tensors' bytes: ours must agree to the byte.
        expect(model.size).toBe(ours.tensors.reduce((s, t) => s + t.nbytes, 0));
        expect(cfg.nKvHeads).toBe(opts.nKvHeads ?? cfg.nHeads);

        const dists = await llamaNextTokenDistributions(model, PROMPT, { at: [1, PROMPT.length - 1] });
        expect(dists.size).toBe(2);
        for (const d of dists.values()) {
          expect(d.finite).toBe(true);
          expect(Math.abs(d.total - 1)).toBeLessThan(1e-3);
          // Peaked, not uniform: uniform would give 1/32064 = 3e-5 to every token.
          expect(d.top[0][1]).toBeGreaterThan(0.05);
        }
      } finally {
        await model.dispose();
      }
    });
  }
});

describe('generator', () => {
  const dir = join(tmpdir(), `make-model-${process.pid}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is deterministic: same seed, same bytes; another seed, other bytes', async () => {
    const opts: ModelOptions = { preset: 'tiny', mix: 'q8_0', seed: 7 };
    const a = await makeTestModel(opts, join(dir, 'a.gguf'));
    const b = await makeTestModel(opts, join(dir, 'b.gguf'));
    const c = await makeTestModel({ ...opts, seed: 8 }, join(dir, 'c.gguf'));
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    expect(a.bytes).toBe(b.bytes);
    expect(sha(a.path)).toBe(sha(b.path));
    expect(sha(c.path)).not.toBe(sha(a.path));
  });

  it('writes a byte-level BPE vocabulary that llama.cpp and our reader both take', async () => {
    const made = await makeTestModel({ preset: 'tiny', mix: 'f32', seed: 9, vocab: 'bpe-small' }, join(dir, 'bpe.gguf'));
    const file = await readGGUFFile(made.path);
    const vocab = vocabFromMetadata(file.metadata);
    expect([vocab.model, vocab.pre, vocab.tokens.length]).toEqual(['gpt2', 'gpt-4o', bpeSmallVocab().tokens.length]);
    expect(modelConfigFromGGUF(file).vocabSize).toBe(vocab.tokens.length);
    const tok = createTokenizer(vocab);
    const model = await loadLlamaModel(made.path);
    try {
      expect(model.tokens.bos).toBe(vocab.bosId);
      for (const text of ['Hello world, how are you?', '<|user|>hi<|end|><|assistant|>', '123456 ünïcode 東京']) {
        expect(tok.encode(text, { addSpecial: false, parseSpecial: true })).toEqual(model.tokenize(text, true));
      }
      const prompt = tok.encode('Hello world, how are you', { addSpecial: false });
      const dists = await llamaNextTokenDistributions(model, prompt);
      for (const d of dists.values()) expect(d.finite && Math.abs(d.total - 1) < 1e-3).toBe(true);
    } finally {
      await model.dispose();
    }
  });

  it('uses the Q4_K_M type mix of llama.cpp', async () => {
    const file = await readGGUFFile(await ensureModel({ preset: 'small', mix: 'q4_k_m', seed: 1 }));
    const type = (name: string) => file.tensors.find((t) => t.name === name)?.type;
    expect(type('token_embd.weight')).toBe(GGMLType.Q4_K);
    expect(type('output.weight')).toBe(GGMLType.Q6_K);
    expect(type('blk.0.attn_qkv.weight')).toBe(GGMLType.Q5_K);
    expect(type('blk.0.attn_output.weight')).toBe(GGMLType.Q4_K);
    expect(type('blk.0.ffn_up.weight')).toBe(GGMLType.Q4_K);
    expect(type('blk.0.attn_norm.weight')).toBe(GGMLType.F32);
    // use_more_bits(i, 4): i < 0 || i >= 3 || (i - 0) % 3 == 2  ->  layers 2 and 3 get Q6_K.
    expect([0, 1, 2, 3].map((l) => type(`blk.${l}.ffn_down.weight`))).toEqual([GGMLType.Q4_K, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q6_K]);
  });
});

describe('the Phi family presets', () => {
  /** The config our reader takes from a preset's header (the tensor data is never made). */
  async function presetConfig(opts: ModelOptions): Promise<{ cfg: ModelConfig; types: Map<string, number> }> {
    const { writer } = buildWriter(opts);
    const header = writer.headerBytes();
    // The reader reads a window past the header; the data section reads as zeros.
    const read = async (o: number, n: number) => {
      const out = new Uint8Array(n);
      out.set(header.subarray(Math.min(o, header.length), Math.min(o + n, header.length)));
      return out;
    };
    const file = await readGGUF({ size: header.length + writer.dataBytes, read });
    return { cfg: modelConfigFromGGUF(file), types: new Map(file.tensors.map((t) => [t.name, t.type])) };
  }
  const attn128k = Math.fround(Math.sqrt(1 + Math.log(32) / Math.log(4096))); // 1.1902 (PHI3.md 1.2)
  const longRope = { contextLength: 131072, originalContextLength: 4096, ropeAttnFactor: attn128k, ropeFactorsLong: true, ropeFactorsShort: true };

  it('phi3.5-mini: Phi-3-mini shapes, 128K LongRoPE over an original 4096', async () => {
    const { cfg } = await presetConfig({ preset: 'phi3.5-mini', mix: 'q4_k_m', seed: 1 });
    expect(cfg).toMatchObject({ dim: 3072, nLayers: 32, nHeads: 32, nKvHeads: 32, headDim: 96, ropeDim: 96, ffnDim: 8192, vocabSize: 32064, tiedOutput: false, ...longRope });
  });

  it('phi4-mini: head 128 with 96 rotated, GQA 24/8, tied output (token_embd at the output type), 128K LongRoPE', async () => {
    const { cfg, types } = await presetConfig({ preset: 'phi4-mini', mix: 'q4_k_m', seed: 1 });
    expect(cfg).toMatchObject({ dim: 3072, nLayers: 32, nHeads: 24, nKvHeads: 8, headDim: 128, kvDim: 1024, ropeDim: 96, ffnDim: 8192, tiedOutput: true, ...longRope });
    expect(types.has('output.weight')).toBe(false);
    expect(types.get('token_embd.weight')).toBe(GGMLType.Q6_K);
    expect((await presetConfig({ preset: 'phi4-mini', mix: 'q4_0', seed: 1 })).types.get('token_embd.weight')).toBe(GGMLType.Q6_K);
    expect((await presetConfig({ preset: 'phi4-mini', mix: 'q8_0', seed: 1 })).types.get('token_embd.weight')).toBe(GGMLType.Q8_0);
  });

  it('phi3-medium (4K) and phi3-medium-128k: 5120 wide, 40 layers, 40/10 heads of 128, FFN 17920', async () => {
    const medium = { dim: 5120, nLayers: 40, nHeads: 40, nKvHeads: 10, headDim: 128, ropeDim: 128, ffnDim: 17920, vocabSize: 32064, tiedOutput: false };
    const { cfg } = await presetConfig({ preset: 'phi3-medium', mix: 'q4_k_m', seed: 1 });
    expect(cfg).toMatchObject({ ...medium, contextLength: 4096, originalContextLength: 4096, ropeFactorsLong: false, ropeAttnFactor: 1 });
    expect((await presetConfig({ preset: 'phi3-medium-128k', mix: 'q4_k_m', seed: 1 })).cfg).toMatchObject({ ...medium, ...longRope });
  });

  it('options override a preset: ropeDim, tiedOutput; a ropeDim the head cannot hold is refused', async () => {
    const { cfg, types } = await presetConfig({ preset: 'tiny', mix: 'q4_k_m', seed: 1, ropeDim: 48, tiedOutput: true, longRope: true });
    expect(cfg).toMatchObject({ headDim: 64, ropeDim: 48, tiedOutput: true, originalContextLength: 128 });
    expect(types.has('output.weight')).toBe(false);
    expect(types.get('token_embd.weight')).toBe(GGMLType.Q6_K);
    expect((await presetConfig({ preset: 'phi4-mini', mix: 'q4_k_m', seed: 1, tiedOutput: false })).types.get('output.weight')).toBe(GGMLType.Q6_K);
    expect(() => buildWriter({ preset: 'tiny', mix: 'f32', seed: 1, ropeDim: 66 })).toThrow(/ropeDim 66/);
    expect(() => buildWriter({ preset: 'tiny', mix: 'f32', seed: 1, ropeDim: 47 })).toThrow(/ropeDim 47/);
  });
});
