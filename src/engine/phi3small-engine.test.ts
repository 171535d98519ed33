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
import { GGMLType } from '../model/gguf.ts';
import type { Phi3SmallFixture } from '../model/test-phi3small.ts';
import { loadRefWeights, RefModel } from './forward.ref.ts';
import { compareWithReference, openPhi3Small } from './test-phi3small.ts';
import { gpuForTests } from '../gpu/test-gpu.ts';

const gpu = gpuForTests();

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
      const { worst, spread, dispatches } = await compareWithReference(gpu.device, o, r);
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
