import { describe, expect, it } from 'vitest';
import { expectedTensors, kvBytesPerToken, kvLayerBytes, kvTypeProblem, modelConfigFromGGUF } from './config.ts';
import type { ModelConfig } from './config.ts';
import { ModelFormatError } from '../common/errors.ts';
import { DEFAULT_MODEL } from '../common/catalog.ts';
import { PRESETS } from '../../scripts/test-model-spec.ts';
import { GGMLType, GGUFValueType, parseGGUF } from './gguf.ts';
import { fixtureFile, fixtureWriter } from './test-gguf.ts';
import type { FixtureOptions } from './test-gguf.ts';
import { GGUFWriter, writeGGUFToBuffer } from './gguf-write.ts';

async function config(o: FixtureOptions = {}): Promise<ModelConfig> {
  return modelConfigFromGGUF(await parseGGUF(fixtureFile(o)));
}

async function configError(o: FixtureOptions, field: string, message: RegExp): Promise<void> {
  const e = await config(o).then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(ModelFormatError);
  expect((e as ModelFormatError).field).toBe(field);
  expect((e as Error).message).toMatch(message);
}

describe('modelConfigFromGGUF', () => {
  it('reads a phi3 file', async () => {
    expect(await config()).toEqual({
      arch: 'phi3', name: 'Phi3 fixture',
      dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, headDim: 16, kvDim: 64, ffnDim: 128, vocabSize: 300,
      contextLength: 4096, originalContextLength: 4096, ropeTheta: 10000, ropeDim: 16, ropeStyle: 'neox',
      normEps: Math.fround(1e-5), slidingWindow: 2047, ropeAttnFactor: 1,
      ropeFactorsLong: false, ropeFactorsShort: false, fused: true, tiedOutput: false,
      norm: 'rms', biases: false, ffnAct: 'swiglu', gegeluLimit: 0, embeddingScale: 1, attentionScale: 1 / 4, logitScale: 1,
      denseEvery: 1, maskedIds: [],
    } satisfies ModelConfig);
  });

  it('handles grouped-query attention (head_count_kv < head_count)', async () => {
    const c = await config({ nHeads: 8, nKvHeads: 2 });
    expect(c).toMatchObject({ nHeads: 8, nKvHeads: 2, headDim: 8, kvDim: 16 });
    const qkv = expectedTensors(c).find((t) => t.name === 'blk.0.attn_qkv.weight')!;
    expect(qkv.dims).toEqual([64, 64 + 2 * 16]);
  });

  it('defaults head_count_kv to head_count when absent', async () => {
    expect((await config({ omitKeys: ['phi3.attention.head_count_kv'] })).nKvHeads).toBe(4);
  });

  it('sees LongRoPE factors and the 128k keys', async () => {
    const c = await config({ longRope: true, nLayers: 1 });
    expect(c).toMatchObject({
      contextLength: 131072, originalContextLength: 4096, ropeFactorsLong: true, ropeFactorsShort: true,
      ropeAttnFactor: Math.fround(1.1902381),
    });
    expect(expectedTensors(c).find((t) => t.name === 'rope_factors_long.weight')!.dims).toEqual([8]);
  });

  it("applies llama.cpp's sliding-window fallback when the key is absent", async () => {
    expect((await config({ slidingWindow: null, nLayers: 32, dim: 32, nHeads: 2, ffnDim: 32, vocabSize: 260 })).slidingWindow).toBe(2047);
    expect((await config({ slidingWindow: 0 })).slidingWindow).toBe(0); // present and 0: no window (Phi-4)
    expect((await config({ slidingWindow: null })).slidingWindow).toBe(0); // no fallback for 2 layers: none
  });

  it('ties the output to token_embd when a phi3 file has no output.weight (Phi-4-mini; llama.cpp falls back the same way)', async () => {
    const tied = await config({ omitTensors: ['output.weight'] });
    expect(tied).toMatchObject({ arch: 'phi3', fused: true, tiedOutput: true });
    expect(expectedTensors(tied).map((t) => t.name)).not.toContain('output.weight');
    expect((await config()).tiedOutput).toBe(false);
  });

  it('reads a llama-architecture (LLaMAfied) file with split tensors and NORM RoPE', async () => {
    const c = await config({ arch: 'llama', nKvHeads: 2 });
    expect(c).toMatchObject({ arch: 'llama', fused: false, ropeStyle: 'norm', slidingWindow: 0, kvDim: 32, tiedOutput: false });
    const tied = await config({ arch: 'llama', omitTensors: ['output.weight'] });
    expect(tied.tiedOutput).toBe(true);
  });

  it('rejects shapes that disagree with the metadata, naming tensor, dims and cause', async () => {
    await configError({ dims: { 'blk.1.attn_qkv.weight': [64, 160] } }, 'blk.1.attn_qkv.weight',
      /tensor "blk.1.attn_qkv.weight" has dims \[64,160\] but the metadata implies \[64,192\] \(q\|k\|v rows: embedding_length 64, head_count 4, head_count_kv 4, head dim 16\)/);
    await configError({ dims: { 'blk.0.ffn_up.weight': [64, 128] } }, 'blk.0.ffn_up.weight', /implies \[64,256\] \(gate\|up rows/);
    await configError({ dims: { 'output.weight': [64, 299] } }, 'output.weight', /has dims \[64,299\] but the metadata implies \[64,300\]/);
    await configError({ dims: { 'token_embd.weight': [32, 300] } }, 'token_embd.weight', /implies \[64, n_vocab\]/);
  });

  it('rejects missing tensors and tensors it would ignore', async () => {
    await configError({ omitTensors: ['blk.1.ffn_down.weight'] }, 'blk.1.ffn_down.weight', /missing tensor "blk.1.ffn_down.weight" \(expected dims \[128,64\]/);
    await configError({ omitTensors: ['token_embd.weight'] }, 'token_embd.weight', /missing tensor/);
    const w = fixtureWriter();
    w.addTensorInfo('blk.0.attn_qkv.bias', GGMLType.F32, [192]);
    const e = await parseGGUF(writeGGUFToBuffer(w)).then(modelConfigFromGGUF).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ModelFormatError);
    expect((e as Error).message).toMatch(/unexpected tensor "blk.0.attn_qkv.bias": not part of a phi3 model/);
  });

  it('rejects an unknown architecture with a clear message', async () => {
    const w = new GGUFWriter();
    w.addKV('general.architecture', GGUFValueType.STRING, 'gemma');
    const e = await parseGGUF(writeGGUFToBuffer(w)).then(modelConfigFromGGUF).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ModelFormatError);
    expect((e as Error).message).toBe('model config: architecture "gemma" is not supported; this app runs phi3 (and llama) models');
  });

  it('rejects missing required keys and bad head counts', async () => {
    await configError({ omitKeys: ['phi3.block_count'] }, 'phi3.block_count', /required key "phi3.block_count" is missing/);
    await configError({ omitKeys: ['phi3.attention.layer_norm_rms_epsilon'] }, 'phi3.attention.layer_norm_rms_epsilon', /missing/);
    await configError({ nHeads: 5, omitKeys: ['phi3.rope.dimension_count'] }, 'phi3.attention.head_count', /head_count 5 does not divide embedding_length 64/);
    await configError({ nHeads: 4, nKvHeads: 3 }, 'phi3.attention.head_count_kv', /head_count_kv 3 does not divide head_count 4/);
  });

  it('rejects a vocabulary that disagrees with the embedding', async () => {
    await configError({ dims: { 'token_embd.weight': [64, 301], 'output.weight': [64, 301] } }, 'tokenizer.ggml.tokens', /300 tokens but token_embd.weight has 301 rows/);
  });
});

describe('KV cache size', () => {
  it('is layers x 2 (K, V) x KV heads x head size x 2 bytes (f16) per position; the catalog states Phi-3-mini\'s', async () => {
    const p = PRESETS['phi3-mini'];
    const phi3Mini = { nLayers: p.nLayers, nKvHeads: p.nKvHeads, headDim: p.dim / p.nHeads };
    expect(kvBytesPerToken(phi3Mini)).toBe(32 * 2 * 32 * 96 * 2);
    expect(kvBytesPerToken(DEFAULT_MODEL.kv!)).toBe(kvBytesPerToken(phi3Mini));
    expect(kvLayerBytes(phi3Mini, 4096)).toBe(32 * 96 * 4096 * 2);
    // q8_0: each head's 96 values are 96 int8 and 3 f16 scales padded to 4 words (104 bytes, ggml's 102 + 2)
    expect(kvBytesPerToken(phi3Mini, 'q8_0')).toBe(32 * 2 * 32 * 104);
    expect(kvLayerBytes(phi3Mini, 4096, 'q8_0')).toBe(32 * 104 * 4096);
    // head size 128: 4 blocks, ggml's 4 x 34 bytes exactly
    expect(kvLayerBytes({ nKvHeads: 8, headDim: 128 }, 1, 'q8_0')).toBe(8 * 4 * 34);
    expect(kvTypeProblem(phi3Mini, 'q8_0')).toBeUndefined();
    expect(kvTypeProblem({ headDim: 80 }, 'q8_0')).toMatch(/multiple of 32.*80/);
    // grouped-query attention: only the KV heads are cached
    expect(kvBytesPerToken(await config({ nHeads: 8, nKvHeads: 2 }))).toBe(2 * 2 * 2 * 8 * 2);
  });
});
