/**
 * Embedding gather on the GPU (src/kernels/embed.ts): the GPU dequantizes with the same f32
 * operations as llama.cpp's dequantize_row_* (every product there is exact in f32, so FMA or not
 * gives the same bits), so the gathered rows must equal src/model/quant's dequantize BIT FOR BIT.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { EmbedKernel } from './embed.ts';
import { embedRef } from './matvec.ref.ts';
import { destroyWeight } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import { Rng } from '../util/rng.ts';
import { ALL_TYPES, formatOf, kStep, makeWeight, runOnce, uploadTestWeight, uploadTestWeightParts } from './test-weights.ts';
import type { WeightPart } from './test-weights.ts';

const gpu = gpuForTests();

/** out [m, k] gathered from the table parts, one dispatch per part into a zeroed output. */
function runEmbed(kernel: EmbedKernel, parts: readonly WeightPart[], ids: Uint32Array, scale = 1): Promise<Float32Array> {
  const k = parts[0].weight.k;
  return runOnce(gpu.device, [ids], new Float32Array(ids.length * k), (pass, [idb], out) =>
    parts.map(({ weight, rowOffset }) => {
      const params = kernel.createParams(weight.k, weight.rows, ids.length, rowOffset, scale);
      kernel.encode(pass, kernel.bind(weight, idb, out, params), weight.k, ids.length);
      return params;
    }),
  );
}

/** Bitwise comparison (NaN-safe, -0 vs +0 distinguished). */
function firstBitDiff(got: Float32Array, want: Float32Array): string | null {
  if (got.length !== want.length) return `length ${got.length} vs ${want.length}`;
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `element ${i}: ${got[i]} vs ${want[i]}`;
  return null;
}

describe('embed: gathered rows equal llama.cpp dequantization bit for bit', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: first, last, repeated and random ids', async (_name, type) => {
    const rng = new Rng(300 + type);
    const rows = 37;
    const k = kStep(type) * (kStep(type) === 8 ? 50 : kStep(type) === 32 ? 7 : 2);
    const tw = makeWeight(type, rows, k, rng);
    const ids = new Uint32Array([rows - 1, 0, 5, 5, rng.int(0, rows - 1), rng.int(0, rows - 1), rows - 1]);
    const kernel = new EmbedKernel(gpu.device, formatOf(type));
    const weight = uploadTestWeight(gpu.device, tw);
    const got = await runEmbed(kernel, [{ weight, rowOffset: 0 }], ids);
    destroyWeight(weight);
    expect(firstBitDiff(got, embedRef(tw.w, k, ids))).toBeNull();
  });

  it('row-split table: each part fills the ids in its rows, one dispatch per part', async () => {
    const rng = new Rng(31);
    for (const type of [GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.F16, GgmlType.Q6_K]) {
      const rows = 50;
      const k = kStep(type) * (kStep(type) === 8 ? 32 : 1);
      const tw = makeWeight(type, rows, k, rng);
      const ids = new Uint32Array([49, 0, 16, 17, 33, 34, 16, 48]);
      const kernel = new EmbedKernel(gpu.device, formatOf(type), type === GgmlType.Q4_K ? 32 : 64); // and another workgroup size
      const parts = uploadTestWeightParts(gpu.device, tw, [0, 17, 34, 50]);
      const got = await runEmbed(kernel, parts, ids);
      for (const p of parts) destroyWeight(p.weight);
      expect(firstBitDiff(got, embedRef(tw.w, k, ids)), formatOf(type)).toBeNull();
    }
  });

  it('ids outside a part are left untouched (a part alone writes only its own ids)', async () => {
    const rng = new Rng(32);
    const tw = makeWeight(GgmlType.Q4_0, 20, 64, rng);
    const kernel = new EmbedKernel(gpu.device, 'Q4_0');
    const [, second] = uploadTestWeightParts(gpu.device, tw, [0, 10, 20]);
    const got = await runEmbed(kernel, [second], new Uint32Array([3, 15]));
    destroyWeight(second.weight);
    expect([...got.subarray(0, 64)].every((v) => v === 0)).toBe(true); // the output starts zeroed
    expect(firstBitDiff(got.subarray(64), tw.w.subarray(15 * 64, 16 * 64))).toBeNull();
  });

  it('with a scale (Phi-3-small mup_embedding_multiplier): each value times the scale, one f32 product, bit for bit', async () => {
    const rng = new Rng(33);
    for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.Q4_K]) {
      const rows = 20;
      const k = kStep(type) * (kStep(type) === 8 ? 16 : 1);
      const tw = makeWeight(type, rows, k, rng);
      const ids = new Uint32Array([19, 0, 7, 7]);
      const kernel = new EmbedKernel(gpu.device, formatOf(type));
      const weight = uploadTestWeight(gpu.device, tw);
      const scale = Math.fround(10.5);
      const got = await runEmbed(kernel, [{ weight, rowOffset: 0 }], ids, scale);
      destroyWeight(weight);
      const want = embedRef(tw.w, k, ids).map((v) => Math.fround(v * scale));
      expect(firstBitDiff(got, want), formatOf(type)).toBeNull();
    }
  });
});
