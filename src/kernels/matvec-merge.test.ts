/**
 * The Wo GEMV that merges split-K attention partials itself (MatvecOptions.attentionMerge,
 * shaders/matvec_merge.wgsl), after the real split-K decode pass (attention.ts, both layouts),
 * against the CPU references: y = y0 + W attention(q, K, V) (attention.ref.ts, matvec.ref.ts).
 *
 * Tolerance, per output row r, by the triangle inequality over the two stages:
 *   |y_gpu - y_ref| <= sum_i |w_ri| tolAtt(i)                    the merged input's error
 *                    + errorBounds(W, |att| + tolAtt, depth + 1)   the GEMV's rounding
 * tolAtt(i) is the attention bound of test-attention.ts (tolerance) for element i's head: the
 * merge here does what attention_merge.wgsl does, in the same order, and that bound covers the
 * split-K pass plus its merge. The GEMV's bound (test-weights.ts errorBounds) is taken over
 * |att_ref| + tolAtt >= |att_gpu|, with one rounding more for the f32 copy of att_ref that
 * matvecRef multiplies. A wrong head, chunk or scale moves x by the order of max|v| (the bound's
 * attention part is ~1e-5 of it), so it shows far above the bound; the NaN-filled cache slots
 * outside the window fail any read of them.
 * Besides the reference, the merged GEMV must give exactly what the separate merge pass followed
 * by the plain GEMV gives: the same operations on the same values in the same order (a compiler
 * that contracted a * b + c in one module and not in the other could differ in the last bits;
 * neither emulator's does).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { createStepBuffer, writeStep } from './step.ts';
import { AttentionKernel, type AttentionOptions, type AttentionShape, type AttentionShared } from './attention.ts';
import { attentionRef } from './attention.ref.ts';
import { MatvecKernel, matvecVariantValid, type MatvecOptions } from './matvec.ts';
import { matvecRef } from './matvec.ref.ts';
import { destroyWeight, hasF16Decoder } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import {
  ALL_TYPES, checkBounds, describeBounds, errorBounds, formatOf, kStep, makeWeight, matvecDepth, rowGroupShapesFor, uploadTestWeight, uploadTestWeightParts,
} from './test-weights.ts';
import type { TestWeight, WeightPart } from './test-weights.ts';
import { cacheWords, makeInputs, tolerance, type Inputs } from './test-attention.ts';

const gpu = gpuForTests();
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
});

const cache = new Map<string, unknown>();
function once<K>(key: string, make: () => K): K {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key) as K;
}
const attention = (headDim: number, opts: AttentionOptions) => once(`att ${headDim} ${JSON.stringify(opts)}`, () => new AttentionKernel(device, headDim, opts));
const matvec = (type: GgmlType, opts: MatvecOptions) => once(`mv ${type} ${JSON.stringify(opts)}`, () => new MatvecKernel(device, formatOf(type), opts));

interface Case {
  /** One decoded token at position pos0 (M = 1). */
  inp: Inputs;
  att: AttentionOptions;
  tw: TestWeight;
  y0: Float32Array;
  /** Row boundaries of a split weight (one dispatch per part); absent: one part. */
  cuts?: number[];
  /** Also write the next norm's inputs (matvec_store_norm.wgsl), with this norm weight. */
  g?: Float32Array;
}

interface Result {
  y: Float32Array;
  xg?: Float32Array;
}

/**
 * The split-K pass, then either the merged GEMV (`opts` + attentionMerge) or the merge pass and
 * the plain GEMV in `opts`, in one submit.
 */
async function run(c: Case, opts: MatvecOptions, merged: boolean): Promise<Result> {
  const { inp, tw } = c;
  const { shape } = inp;
  const a = attention(shape.headDim, c.att);
  const k = shape.nHeads * shape.headDim;
  const normOut = c.g !== undefined;
  const kern = matvec(tw.type, { ...opts, normOut, ...(merged ? { attentionMerge: { k, headDim: shape.headDim, chunk: a.chunk } } : {}) });
  const q = uploadStorage(device, inp.q, 'q');
  const kv = { k: uploadStorage(device, cacheWords(inp.k, inp), 'k'), v: uploadStorage(device, cacheWords(inp.v, inp), 'v') };
  const attOut = uploadStorage(device, new Float32Array(k).fill(NaN), 'att');
  const step = createStepBuffer(device);
  writeStep(device, step, { pos0: inp.pos0, nTokens: 1 });
  const shared: AttentionShared = { shape, params: a.createParams(shape), step, scratch: a.createScratch(shape) };
  const binding = a.bind(shared, kv, q, attOut);
  const parts: WeightPart[] = c.cuts ? uploadTestWeightParts(device, tw, c.cuts) : [{ weight: uploadTestWeight(device, tw), rowOffset: 0 }];
  const y = uploadStorage(device, c.y0, 'y');
  const out = c.g && { g: uploadStorage(device, c.g, 'g'), xg: createStorage(device, 4 * tw.rows, 'xg'), partials: createStorage(device, kern.partialsBytes(tw.rows), 'partials') };
  const params = parts.map((p) => kern.createParams(p.weight.k, p.weight.rows, p.rowOffset, true));
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  a.encodeDecode(pass, binding, { pos0: inp.pos0, nTokens: 1 }, !merged);
  parts.forEach((p, i) => {
    const group = merged ? kern.bindMerged(p.weight, shared, y, params[i], out) : out ? kern.bindNormOut(p.weight, attOut, y, params[i], out) : kern.bind(p.weight, attOut, y, params[i]);
    kern.encode(pass, group, p.weight.rows);
  });
  pass.end();
  device.queue.submit([enc.finish()]);
  const result: Result = { y: new Float32Array(await readBuffer(device, y, 4 * tw.rows)) };
  if (out) result.xg = new Float32Array(await readBuffer(device, out.xg, 4 * tw.rows));
  for (const b of [q, kv.k, kv.v, attOut, step, shared.params, shared.scratch.partO, shared.scratch.partML, y, ...params]) b.destroy();
  if (out) for (const b of Object.values(out)) b.destroy();
  for (const p of parts) destroyWeight(p.weight);
  return result;
}

/** The merged GEMV against the references and against the separate merge pass; the worst err/bound. */
async function check(c: Case, opts: MatvecOptions = {}): Promise<number> {
  const { inp, tw } = c;
  const { nHeads, headDim } = inp.shape;
  const what = `${formatOf(tw.type)} ${tw.rows}x${tw.k} heads ${nHeads}/${inp.shape.nKvHeads}x${headDim} pos ${inp.pos0} window ${inp.shape.window} ${JSON.stringify(c.att)} ${JSON.stringify(opts)}${c.cuts ? ' split' : ''}${c.g ? ' normOut' : ''}`;
  const got = await run(c, opts, true);
  const attRef = attentionRef(inp.q, inp.k, inp.v, inp.pos0 + 1, 1, inp.pos0, inp.shape);
  const tolAtt = tolerance(inp);
  const k = nHeads * headDim;
  const ref = matvecRef(tw.w, Float32Array.from(attRef), tw.rows, k, c.y0);
  const kern = matvec(tw.type, { ...opts, normOut: c.g !== undefined, attentionMerge: { k, headDim, chunk: attention(headDim, c.att).chunk } });
  const depth = matvecDepth(tw.type, k, kern.lanesPerRow, kern.subgroups ? gpu.subgroupSizes : null) + 1;
  const xAbs = Float32Array.from(attRef, (v, i) => Math.abs(v) + tolAtt[Math.floor(i / headDim)]);
  const bound = errorBounds(tw, xAbs, depth, ref);
  for (let r = 0; r < tw.rows; r++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.abs(tw.w[r * k + i]) * tolAtt[Math.floor(i / headDim)];
    bound[r] += s;
  }
  const report = checkBounds(got.y, ref, bound);
  expect(report.ok, `${what}: ${describeBounds(report)}`).toBe(true);
  if (c.g) {
    // the hand-off is computed from the stored y: x * g rounded once
    expect(got.xg).toEqual(Float32Array.from(got.y, (v, i) => Math.fround(v * c.g![i])));
  }
  const separate = await run(c, opts, false);
  expect(got.y, `${what}: the same as the merge pass + plain GEMV`).toEqual(separate.y);
  return report.worstRatio;
}

const shape = (nHeads: number, nKvHeads: number, headDim: number, maxCtx: number, window = 0): AttentionShape => ({ nHeads, nKvHeads, headDim, maxCtx, window });

/** A case of `rows` rows over the attention output of `inp`, with a random residual y0. */
function makeCase(type: GgmlType, inp: Inputs, att: AttentionOptions, rows: number, rng: Rng, extra: Partial<Case> = {}): Case {
  const k = inp.shape.nHeads * inp.shape.headDim;
  return { inp, att, tw: makeWeight(type, rows, k, rng), y0: rng.fill(rows, -4, 4), ...extra };
}

describe('matvec with the attention merge folded in, vs attention.ref + matvec.ref', () => {
  it.each(ALL_TYPES.map((t) => [formatOf(t), t] as const))('%s: GQA, several chunks, rows off the tiles', async (_name, type) => {
    const rng = new Rng(900 + type);
    // k = 4 heads x 64 = 256: one block of every format; 37 rows: two 16-row workgroups and a partial one
    expect(256 % kStep(type)).toBe(0);
    const inp = makeInputs(shape(4, 2, 64, 300), 150, 1, 910 + type, 2);
    // chunks of 32 keys: keys 0..150 are 5 chunks, the last one partly visible
    const worst = await check(makeCase(type, inp, { chunk: 32 }, 37, rng));
    console.log(`matvec merge ${formatOf(type)}: worst err/bound ${worst.toExponential(2)}`);
  });

  it('Q4_K: row groups, both reductions', async () => {
    const rng = new Rng(920);
    const inp = makeInputs(shape(8, 2, 32, 200), 99, 1, 921, 2);
    // one row-group shape per reduction (the merge precedes the driver and is the same in all of
    // them; matvec.test.ts runs every shape)
    for (const o of rowGroupShapesFor(GgmlType.Q8_0, gpu.hasSubgroups() ? gpu.subgroupSizes.min : null)) {
      await check(makeCase(GgmlType.Q4_K, inp, { chunk: 16 }, 37, rng), o);
    }
    await check(makeCase(GgmlType.Q4_K, inp, { chunk: 16 }, 37, rng), { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: false });
    if (gpu.hasSubgroups()) await check(makeCase(GgmlType.Q4_K, inp, { chunk: 16 }, 37, rng), { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: true });
  });

  it('Q4_K: the hand-off to the next norm (normOut), a split weight, the lanes layout, one chunk, a sliding window', async () => {
    const rng = new Rng(930);
    const inp = makeInputs(shape(4, 4, 64, 400), 333, 1, 931, 2);
    await check(makeCase(GgmlType.Q4_K, inp, { chunk: 64 }, 37, rng, { g: rng.fill(37, 0.5, 2) }));
    await check(makeCase(GgmlType.Q4_K, inp, { chunk: 64 }, 37, rng, { cuts: [0, 5, 21, 37] }));
    await check(makeCase(GgmlType.Q4_K, inp, { chunk: 64, decodeVariant: 'lanes', subgroups: false }, 37, rng));
    if (gpu.hasSubgroups()) await check(makeCase(GgmlType.Q4_K, inp, { chunk: 64, decodeVariant: 'lanes', subgroups: true }, 37, rng));
    // every key in one chunk: the merge of one partial
    await check(makeCase(GgmlType.Q4_K, inp, { chunk: 512 }, 21, rng));
    // window 100 at pos 333: keys 234..333, chunks of 64 from chunk 3 (key 192) on; slots before 234 are NaN
    const windowed = makeInputs(shape(4, 2, 64, 400, 100), 333, 1, 932, 2);
    await check(makeCase(GgmlType.Q4_K, windowed, { chunk: 64 }, 21, rng, { g: rng.fill(21, 0.5, 2) }));
  });

  it('Q4_K after block-sparse attention: chunks no key of which a head sees hold empty partials (max NEG, sum 0), merged to nothing', async () => {
    const rng = new Rng(960);
    // blocks of 16, one local block, every 8th block vertical (offset by the head), scale 1/64:
    // at pos 333 with chunks of 32 keys most chunks hold no key a given head sees
    const sparse = { blockSize: 16, localBlocks: 1, vertStride: 8, headStep: 1 };
    const inp = makeInputs({ ...shape(4, 2, 64, 400), scale: 1 / 64, sparse }, 333, 1, 961, 2);
    await check(makeCase(GgmlType.Q4_K, inp, { chunk: 32 }, 37, rng, { g: rng.fill(37, 0.5, 2) }));
    await check(makeCase(GgmlType.Q4_K, inp, { chunk: 32, decodeVariant: 'lanes', subgroups: false }, 21, rng));
  });

  it("Phi-3-mini's shape: 32 heads x 96, k = 3072, Q4_K and Q6_K, 256-key chunks at position 1000", async () => {
    const rng = new Rng(940);
    const inp = makeInputs(shape(32, 32, 96, 1100), 1000, 1, 941);
    await check(makeCase(GgmlType.Q4_K, inp, {}, 21, rng, { g: rng.fill(21, 0.5, 2) }));
    await check(makeCase(GgmlType.Q6_K, inp, {}, 21, rng));
  });

  it('f16 math: exactly the merge pass followed by the f16 GEMV (gemv-f16.test.ts checks that against the reference)', async (ctx) => {
    if (!device.features.has('shader-f16')) ctx.skip('no shader-f16');
    const rng = new Rng(950);
    const inp = makeInputs(shape(4, 2, 64, 300), 150, 1, 951, 2);
    // one format: the merge fills x before the driver, whatever decodes the weights
    for (const type of [GgmlType.Q4_K]) {
      expect(hasF16Decoder(formatOf(type))).toBe(true);
      const c = makeCase(type, inp, { chunk: 32 }, 37, rng, { g: rng.fill(37, 0.5, 2) });
      const opts: MatvecOptions = { f16: true };
      expect((await run(c, opts, true)).y).toEqual((await run(c, opts, false)).y);
    }
  });
});

describe('matvec attention merge: refusals', () => {
  /** A device with these limits and no features (matvecVariantValid reads only these). */
  const limited = (bytes: number) =>
    ({ limits: { maxComputeWorkgroupStorageSize: bytes, maxComputeInvocationsPerWorkgroup: 256 }, features: new Set<string>() }) as unknown as GPUDevice;

  it('workgroup memory: Phi-3-mini fits 16 KiB in the smaller shapes, Phi-3-medium does not', () => {
    const mini = { k: 3072, headDim: 96, chunk: 256 };
    const medium = { k: 5120, headDim: 128, chunk: 256 };
    // 4 (3072 + 64) = 12544 B, plus the reduction's 4 x 8 rows x 64 threads and the hand-off's 128
    expect(matvecVariantValid(limited(16384), { workgroupSize: 64, rowsPerWorkgroup: 8, normOut: true, attentionMerge: mini })).toBeNull();
    expect(matvecVariantValid(limited(16384), { workgroupSize: 64, rowsPerWorkgroup: 16, normOut: true, attentionMerge: mini })).toMatch(/over the device limit \(with the attention merge's 12544 B\)/);
    expect(matvecVariantValid(limited(16384), { workgroupSize: 64, rowsPerWorkgroup: 1, attentionMerge: medium })).toMatch(/merged input \(5120 floats\) needs 20800 B of workgroup memory, over the device's 16384/);
    expect(matvecVariantValid(limited(32768), { workgroupSize: 64, rowsPerWorkgroup: 8, attentionMerge: medium })).toBeNull();
  });

  it('head sizes the vec4 reads cannot take, and the constructor agrees', () => {
    const bad = { k: 6 * 30, headDim: 30, chunk: 64 };
    expect(matvecVariantValid(device, { attentionMerge: bad })).toMatch(/headDim 30 is not a multiple of 4/);
    expect(() => new MatvecKernel(device, 'Q8_0', { attentionMerge: bad })).toThrow(/headDim 30 is not a multiple of 4/);
    expect(matvecVariantValid(device, { attentionMerge: { k: 200, headDim: 64, chunk: 64 } })).toMatch(/k 200 is not a whole number of heads/);
  });

  it('not with split-K, and the constructor agrees', () => {
    const mini = { k: 3072, headDim: 96, chunk: 256 };
    expect(matvecVariantValid(device, { splitK: 2, attentionMerge: mini })).toMatch(/not with split-K \(2 workgroups per row block/);
    expect(() => new MatvecKernel(device, 'Q8_0', { splitK: 4, attentionMerge: mini })).toThrow(/not with split-K/);
    expect(matvecVariantValid(device, { splitK: 2 })).toBeNull();
  });
});
