import { describe, expect, it } from 'vitest';
import { expectedTensors, isDenseLayer, modelConfigFromGGUF, ropeAttnFactorFor } from './config.ts';
import type { ModelConfig } from './config.ts';
import { ModelFormatError } from '../common/errors.ts';
import { parseGGUF } from './gguf.ts';
import { phi3smallFile, type Phi3SmallFixture } from './test-phi3small.ts';

async function config(o: Phi3SmallFixture = {}): Promise<ModelConfig> {
  return modelConfigFromGGUF(await parseGGUF(phi3smallFile(o)));
}

async function configError(o: Phi3SmallFixture, field: string, message: RegExp): Promise<void> {
  const e = await config(o).then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(ModelFormatError);
  expect((e as ModelFormatError).field).toBe(field);
  expect((e as Error).message).toMatch(message);
}

describe('modelConfigFromGGUF: phi3small (src/model/PHI3SMALL.md)', () => {
  it('reads the keys: LayerNorm, biases, GeGeLU, muP scales, block-sparse pattern, masked ids', async () => {
    const c = await config({ maskedIds: [299, 7, 297, 7] });
    expect(c).toMatchObject({
      arch: 'phi3small', dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, kvDim: 32, ffnDim: 96, vocabSize: 300,
      contextLength: 8192, ropeStyle: 'neox', ropeDim: 16, ropeTheta: 1000000, normEps: Math.fround(1e-5), slidingWindow: 0,
      fused: true, tiedOutput: true, norm: 'layer', biases: true, ffnAct: 'gegelu', gegeluLimit: 20,
      embeddingScale: 10, attentionScale: 1 / 16, logitScale: 1 / 8, denseEvery: 2,
      // headStep = max(1, floor(3 / 4 heads)) = 1
      blockSparse: { blockSize: 4, localBlocks: 2, vertStride: 3, headStep: 1 },
      maskedIds: [7, 297, 299],
    });
    expect(c.ropeMscale).toBeUndefined();
    expect(ropeAttnFactorFor(c, 100000)).toBe(1);
    // layer L dense iff (L + 1) % 2 == 0
    expect([0, 1, 2, 3].map((l) => isDenseLayer(c, l))).toEqual([false, true, false, true]);
    const names = expectedTensors(c).map((t) => t.name);
    for (const n of ['output_norm.bias', 'blk.1.attn_norm.bias', 'blk.0.attn_qkv.bias', 'blk.0.attn_output.bias', 'blk.1.ffn_norm.bias', 'blk.1.ffn_up.bias', 'blk.1.ffn_down.bias']) {
      expect(names).toContain(n);
    }
    expect(names).not.toContain('output.weight');
    expect(expectedTensors(c).find((t) => t.name === 'blk.0.attn_qkv.bias')!.dims).toEqual([64 + 2 * 32]);
    expect(expectedTensors(c).find((t) => t.name === 'blk.0.ffn_up.bias')!.dims).toEqual([192]);
  });

  it('homo_head gives every head head 0 pattern (step 0); a wide stride gives floor(stride / heads)', async () => {
    expect((await config({ homoHead: true })).blockSparse!.headStep).toBe(0);
    expect((await config({ vertStride: 9 })).blockSparse!.headStep).toBe(2);
  });

  it('128k: rope factors, and the mscale of the set the context length picks', async () => {
    const c = await config({ longRope: true });
    expect(c).toMatchObject({ contextLength: 131072, originalContextLength: 8192, ropeFactorsLong: true, ropeFactorsShort: true });
    expect(c.ropeMscale).toEqual({ short: 1.25, long: 1.5 });
    expect(ropeAttnFactorFor(c, 8192)).toBe(1.25);
    expect(ropeAttnFactorFor(c, 8193)).toBe(1.5);
    await configError({ longRope: true, omitKeys: ['phi3small.rope.scaling.long_mscale'] }, 'phi3small.rope.scaling.long_mscale', /missing/);
    await configError({ longRope: true, omitKeys: ['phi3small.rope.scaling.original_context_length'] }, 'phi3small.rope.scaling.original_context_length', /missing/);
  });

  it('refuses an output.weight (the head is tied), a missing bias, missing keys and bad values, by name', async () => {
    await configError({ extraTensors: ['output.weight'] }, 'output.weight', /unexpected tensor "output.weight"/);
    await configError({ omitTensors: ['blk.1.ffn_down.bias'] }, 'blk.1.ffn_down.bias', /missing tensor "blk.1.ffn_down.bias"/);
    await configError({ omitKeys: ['phi3small.attention.layer_norm_epsilon'] }, 'phi3small.attention.layer_norm_epsilon', /missing/);
    await configError({ omitKeys: ['phi3small.mup.width_multiplier'] }, 'phi3small.mup.width_multiplier', /missing/);
    await configError({ omitKeys: ['phi3small.attention.block_sparse.homo_head'] }, 'phi3small.attention.block_sparse.homo_head', /missing/);
    await configError({ denseEvery: 0 }, 'phi3small.attention.dense_every_n_layers', /must be positive/);
    await configError({ gegeluLimit: -1 }, 'phi3small.feed_forward.gegelu_limit', /must be positive/);
    await configError({ maskedIds: [300] }, 'phi3small.dummy_token_indices', /outside the vocabulary/);
    await configError({ omitKeys: ['phi3small.dummy_token_indices'] }, 'phi3small.dummy_token_indices', /missing/);
  });
});
