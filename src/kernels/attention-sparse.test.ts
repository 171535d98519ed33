/**
 * Block-sparse attention (Phi-3-small's sparse layers; BlockSparse in attention.ts) with the
 * shape's own score scale (1/headDim, as Phi-3-small scales), on every path of AttentionKernel:
 * split-K decode in the 'keys' and 'lanes' layouts (lanes with and without subgroups), one token
 * and several; the fused RoPE + append decode pass in both layouts; the 'tiled' and 'rows-f16'
 * prefill, in chunks that start past 0; f16 and q8_0 caches. Each against attention.ref.ts within
 * the bounds of test-attention.ts (tolerance; tolerance16 for 'rows-f16'), which count the keys a
 * row sees: the pattern changes which keys are summed, not how.
 *
 * Unread rows: every cache row that no row of the step, for no query head of its KV group, may
 * see is filled with NaN (for q8_0 a NaN scale too), as are the rows past the step. A pass that
 * read such a row and masked it afterwards (a zero weight times NaN) would put NaN in the output,
 * so equality with the reference shows the invisible blocks were skipped, not masked. Cases with
 * one query head per KV head (nKvHeads = nHeads) make that per head: there the rows one head
 * cannot see are NaN even where its neighbours see them.
 *
 * The patterns are picked so that vertical blocks decide: positions up to 600 lie well past the
 * local window, and each case checks that its sparse reference is far (many tolerances) from the
 * dense one, so a pass that ignored the pattern could not pass.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { createStepBuffer, writeStep } from './step.ts';
import {
  AttentionKernel, blockSparseProblem, keyVisible, sparseKeysRead, windowStart, type AttentionOptions, type AttentionShape, type BlockSparse,
} from './attention.ts';
import { attentionRef } from './attention.ref.ts';
import { RopeKvKernel, type RopeKvShape } from './rope_kv.ts';
import type { KvCacheType as KvType } from './kv-layout.ts';
import { kvRowWords } from './kv-cache.ref.ts';
import { NAN_WORD, cacheBytes, cacheWords, makeInputs, packCache, tolerance, tolerance16, unpackCache, type Inputs } from './test-attention.ts';

const gpu = gpuForTests();
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
});

const sp = (blockSize: number, localBlocks: number, vertStride: number, headStep: number): BlockSparse => ({ blockSize, localBlocks, vertStride, headStep });
const sparseShape = (nHeads: number, nKvHeads: number, headDim: number, maxCtx: number, sparse: BlockSparse, window = 0): AttentionShape =>
  ({ nHeads, nKvHeads, headDim, maxCtx, window, scale: 1 / headDim, sparse });

/** hidden[g][j]: no row of positions pos0 .. pos0 + M - 1, for no query head of KV group g, sees key j (< kvLen). */
function hiddenRows(shape: AttentionShape, pos0: number, M: number, kvLen: number): boolean[][] {
  const group = shape.nHeads / shape.nKvHeads;
  return Array.from({ length: shape.nKvHeads }, (_, g) =>
    Array.from({ length: kvLen }, (_, j) => {
      for (let m = 0; m < M; m++) {
        const pos = pos0 + m;
        if (j < windowStart(pos, shape.window)) continue;
        for (let h = g * group; h < (g + 1) * group; h++) if (keyVisible(shape.sparse, h, pos, j)) return false;
      }
      return true;
    }));
}

/** Sets the rows hidden[g][j] of a packed cache to NaN words; returns how many. */
function poison(words: Uint32Array, hidden: boolean[][], maxCtx: number, headDim: number, kvType: KvType): number {
  const row = kvRowWords(headDim, kvType);
  let n = 0;
  hidden.forEach((rows, g) => rows.forEach((hide, j) => {
    if (!hide) return;
    words.fill(NAN_WORD, (g * maxCtx + j) * row, (g * maxCtx + j + 1) * row);
    n++;
  }));
  return n;
}

/**
 * The cache as the kernels read it, with every row the step may not read NaN. The fixed cases
 * must hide rows inside the window (`someHidden`) for the NaN to prove anything; a random pattern
 * may hide none.
 */
function poisonedCache(values: Float32Array, inp: Inputs, kvType: KvType, someHidden: boolean): Uint32Array {
  const words = cacheWords(values, inp, kvType);
  const kvLen = inp.pos0 + inp.M;
  const n = poison(words, hiddenRows(inp.shape, inp.pos0, inp.M, kvLen), inp.shape.maxCtx, inp.shape.headDim, kvType);
  if (someHidden) expect(n, 'rows no head of the step sees').toBeGreaterThan(0);
  return words;
}

async function runGpu(kernel: AttentionKernel, inp: Inputs, path: 'decode' | 'prefill', someHidden = true): Promise<Float32Array> {
  const { shape, pos0, M } = inp;
  const n = M * shape.nHeads * shape.headDim;
  const q = uploadStorage(device, inp.q, 'q');
  const kCache = uploadStorage(device, poisonedCache(inp.k, inp, kernel.kvType, someHidden), 'k');
  const vCache = uploadStorage(device, poisonedCache(inp.v, inp, kernel.kvType, someHidden), 'v');
  const att = uploadStorage(device, new Float32Array(n).fill(NaN), 'att');
  const step = createStepBuffer(device);
  writeStep(device, step, { pos0, nTokens: M });
  const params = kernel.createParams(shape);
  const scratch = kernel.createScratch(shape);
  const binding = kernel.bind({ shape, params, step, scratch }, { k: kCache, v: vCache }, q, att);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  if (path === 'decode') kernel.encodeDecode(pass, binding, { pos0, nTokens: M });
  else kernel.encodePrefill(pass, binding, { pos0, nTokens: M });
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = new Float32Array(await readBuffer(device, att, n * 4));
  for (const b of [q, kCache, vCache, att, step, params, scratch.partO, scratch.partML]) b.destroy();
  return out;
}

/** got against ref within tol per (m, h). */
function expectClose(got: Float32Array, ref: Float64Array, inp: Inputs, what: string, tol: Float64Array): void {
  const { nHeads, headDim } = inp.shape;
  let bad = 0;
  const report: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const t = tol[Math.floor(i / headDim)];
    const err = Math.abs(got[i] - ref[i]);
    if (!(err <= t)) {
      bad++;
      if (report.length < 6) report.push(`[m=${Math.floor(i / (nHeads * headDim))} h=${Math.floor(i / headDim) % nHeads} d=${i % headDim}] ${got[i]} vs ${ref[i]} (tol ${t.toExponential(2)})`);
    }
  }
  expect(bad, `${what}: ${bad}/${ref.length} out of tolerance: ${report.join('; ')}`).toBe(0);
}

/** The case's pattern matters: its reference is far from the dense one for some (m, h). */
function expectPatternMatters(ref: Float64Array, inp: Inputs, tol: Float64Array, what: string): void {
  const dense = attentionRef(inp.q, inp.k, inp.v, inp.pos0 + inp.M, inp.M, inp.pos0, { ...inp.shape, sparse: undefined });
  let far = 0;
  for (let i = 0; i < ref.length; i++) far = Math.max(far, Math.abs(ref[i] - dense[i]) / tol[Math.floor(i / inp.shape.headDim)]);
  expect(far, `${what}: sparse vs dense reference, in tolerances`).toBeGreaterThan(10);
}

interface Case {
  label: string;
  shape: AttentionShape;
  pos0: number;
  M: number;
  /** Split-K chunk (decode) of the kernel. */
  chunk?: number;
}

const describeCase = (c: Case) => {
  const s = c.shape.sparse!;
  return `${c.label}: ${c.shape.nHeads}/${c.shape.nKvHeads}x${c.shape.headDim}, B ${s.blockSize} L ${s.localBlocks} V ${s.vertStride} step ${s.headStep}${c.shape.window ? ` window ${c.shape.window}` : ''}, pos0 ${c.pos0} M ${c.M}`;
};

// Split-K decode steps: one token and several (the multi-token split-K path), chunks that do and
// do not line up with the blocks.
const DECODE_CASES: Case[] = [
  { label: 'one token, tiny blocks', shape: sparseShape(4, 1, 32, 640, sp(4, 1, 8, 1)), pos0: 597, M: 1, chunk: 64 },
  { label: 'three tokens', shape: sparseShape(4, 1, 32, 640, sp(4, 1, 8, 1)), pos0: 590, M: 3, chunk: 64 },
  { label: 'four tokens, homogeneous heads, every other block vertical', shape: sparseShape(4, 2, 64, 640, sp(16, 3, 2, 0)), pos0: 560, M: 4, chunk: 256 },
  { label: 'Phi-3-small-like blocks of 64', shape: sparseShape(32, 8, 128, 700, sp(64, 2, 8, 1)), pos0: 600, M: 1, chunk: 128 },
  { label: 'one KV head per query head, chunk off the blocks', shape: sparseShape(4, 4, 64, 640, sp(4, 16, 5, 1)), pos0: 598, M: 2, chunk: 100 },
  { label: 'sliding window too, 32 homogeneous heads over 2 KV heads', shape: sparseShape(32, 2, 32, 640, sp(16, 1, 8, 0), 400), pos0: 599, M: 1, chunk: 64 },
];

// Prefill chunks past position 0 over a cache holding the earlier keys.
const PREFILL_CASES: Case[] = [
  { label: 'tiny blocks', shape: sparseShape(4, 1, 32, 640, sp(4, 1, 8, 1)), pos0: 300, M: 150 },
  { label: 'homogeneous heads, every other block vertical', shape: sparseShape(4, 2, 64, 640, sp(16, 3, 2, 0)), pos0: 470, M: 130 },
  { label: 'Phi-3-small-like blocks of 64', shape: sparseShape(32, 8, 128, 700, sp(64, 2, 8, 1)), pos0: 520, M: 80 },
  { label: 'one KV head per query head', shape: sparseShape(4, 4, 64, 640, sp(4, 16, 5, 1)), pos0: 520, M: 79 },
  { label: 'sliding window too, homogeneous heads, every other block vertical', shape: sparseShape(32, 2, 32, 640, sp(16, 1, 8, 0), 400), pos0: 450, M: 150 },
];

const kernels = new Map<string, AttentionKernel>();
const kernelFor = (headDim: number, opts: AttentionOptions) => {
  const key = `${headDim} ${JSON.stringify(opts)}`;
  if (!kernels.has(key)) kernels.set(key, new AttentionKernel(device, headDim, opts));
  return kernels.get(key)!;
};

const DECODE_VARIANTS: [string, AttentionOptions][] = [
  ['keys', {}],
  ['lanes', { decodeVariant: 'lanes' }],
  ['lanes, no subgroups', { decodeVariant: 'lanes', subgroups: false }],
];

for (const kvType of ['f16', 'q8_0'] as const) {
  describe(`block-sparse split-K decode, ${kvType} cache, vs CPU reference (invisible rows NaN)`, () => {
    for (const [name, variant] of DECODE_VARIANTS) {
      it(`${name}: every case`, async () => {
        for (const c of DECODE_CASES) {
          // q8_0: a few cases (each kernel compiles slowly on the emulators)
          if (kvType === 'q8_0' && c.shape.headDim !== 64) continue;
          const inp = makeInputs(c.shape, c.pos0, c.M, 600 + c.pos0, 2, kvType);
          const ref = attentionRef(inp.q, inp.k, inp.v, c.pos0 + c.M, c.M, c.pos0, c.shape);
          const tol = tolerance(inp);
          expectPatternMatters(ref, inp, tol, describeCase(c));
          const got = await runGpu(kernelFor(c.shape.headDim, { ...variant, chunk: c.chunk, kvType }), inp, 'decode');
          expectClose(got, ref, inp, `${name} ${describeCase(c)}`, tol);
        }
      });
    }
  });

  describe(`block-sparse prefill, ${kvType} cache, vs CPU reference (invisible rows NaN)`, () => {
    it("'tiled': every case, default tiles and 8 x 16", async () => {
      for (const c of PREFILL_CASES) {
        if (kvType === 'q8_0' && c.shape.headDim !== 64) continue;
        const inp = makeInputs(c.shape, c.pos0, c.M, 700 + c.pos0, 2, kvType);
        const ref = attentionRef(inp.q, inp.k, inp.v, c.pos0 + c.M, c.M, c.pos0, c.shape);
        const tol = tolerance(inp);
        expectPatternMatters(ref, inp, tol, describeCase(c));
        for (const tiles of [{}, { tileQ: 8, tileK: 16 }]) {
          const got = await runGpu(kernelFor(c.shape.headDim, { ...tiles, kvType }), inp, 'prefill');
          expectClose(got, ref, inp, `tiled ${JSON.stringify(tiles)} ${describeCase(c)}`, tol);
        }
      }
    });

    it("'rows-f16': every case (where the device has shader-f16)", async (ctx) => {
      if (!device.features.has('shader-f16')) ctx.skip();
      for (const c of PREFILL_CASES) {
        if (kvType === 'q8_0' && c.shape.headDim !== 64) continue;
        const inp = makeInputs(c.shape, c.pos0, c.M, 800 + c.pos0, 2, kvType);
        const ref = attentionRef(inp.q, inp.k, inp.v, c.pos0 + c.M, c.M, c.pos0, c.shape);
        // Few kernels: the emulators compile the (fully unrolled) rows-f16 pass slowly.
        const opts: AttentionOptions = c.shape.headDim === 64 ? { tileQ: 16, tileK: 16 } : {};
        const kernel = kernelFor(c.shape.headDim, { ...opts, prefillVariant: 'rows-f16', kvType });
        const tol = tolerance16(inp, kernel.tileK, kvType === 'q8_0');
        expectPatternMatters(ref, inp, tol, describeCase(c));
        const got = await runGpu(kernel, inp, 'prefill');
        expectClose(got, ref, inp, `rows-f16 ${describeCase(c)}`, tol);
      }
    });
  });
}

describe('block-sparse split-K decode, one token at a time across block and chunk boundaries (invisible rows NaN)', () => {
  it("'keys' and 'lanes', f16 and q8_0: positions 495 .. 530 (chunks of 100 start at 500, blocks of 16 at 496, 512 and 528)", async () => {
    const shape = sparseShape(4, 2, 64, 640, sp(16, 1, 4, 1));
    for (const kvType of ['f16', 'q8_0'] as const) {
      const all = makeInputs(shape, 0, 531, 1200, 2, kvType);
      for (let pos = 495; pos <= 530; pos++) {
        // the cache up to pos, and the query of position pos (as a decoded token sees them)
        const rows = (x: Float32Array) => {
          const out = new Float32Array(shape.nKvHeads * (pos + 1) * 64);
          for (let g = 0; g < shape.nKvHeads; g++) out.set(x.subarray(g * 531 * 64, (g * 531 + pos + 1) * 64), g * (pos + 1) * 64);
          return out;
        };
        const inp: Inputs = { shape, pos0: pos, M: 1, q: all.q.subarray(pos * 4 * 64, (pos + 1) * 4 * 64), k: rows(all.k), v: rows(all.v) };
        const ref = attentionRef(inp.q, inp.k, inp.v, pos + 1, 1, pos, shape);
        for (const [name, variant] of DECODE_VARIANTS.slice(0, 2)) {
          const got = await runGpu(kernelFor(64, { ...variant, chunk: 100, kvType }), inp, 'decode');
          expectClose(got, ref, inp, `${name} ${kvType} pos ${pos}`, tolerance(inp));
        }
      }
    }
  });
});

describe('block-sparse attention, random patterns (f16 cache, invisible rows NaN)', () => {
  it("split-K 'keys' and 'lanes' decode, and 'tiled' prefill", async () => {
    const rng = new Rng(91);
    for (let t = 0; t < 8; t++) {
      const headDim = [32, 64][t % 2];
      const nKvHeads = [1, 2, 8][rng.int(0, 2)];
      const nHeads = nKvHeads * (nKvHeads === 8 ? 4 : [1, 2, 4][rng.int(0, 2)]);
      const sparse = sp([4, 16, 64][rng.int(0, 2)], rng.int(1, 16), rng.int(2, 8), rng.int(0, 1));
      const window = rng.next() < 0.25 ? rng.int(100, 500) : 0;
      const decodeM = rng.int(1, 4);
      const pos0 = rng.int(300, 600);
      const shape = sparseShape(nHeads, nKvHeads, headDim, 640, sparse, window);
      const what = `${nHeads}/${nKvHeads}x${headDim} ${JSON.stringify(sparse)} window ${window}`;
      const dec = makeInputs(shape, pos0, decodeM, 1000 + t, 2);
      const decRef = attentionRef(dec.q, dec.k, dec.v, pos0 + decodeM, decodeM, pos0, shape);
      for (const [name, variant] of DECODE_VARIANTS.slice(0, 2)) {
        // the kernels of the fixed cases (chunks 64 and 100, the latter off every block size)
        const kernel = kernelFor(headDim, { ...variant, chunk: headDim === 32 ? 64 : 100 });
        expectClose(await runGpu(kernel, dec, 'decode', false), decRef, dec, `${name} decode ${what} pos0 ${pos0} M ${decodeM}`, tolerance(dec));
      }
      const pre = makeInputs(shape, pos0 - 100, 100, 1100 + t, 2);
      const preRef = attentionRef(pre.q, pre.k, pre.v, pos0, 100, pos0 - 100, shape);
      expectClose(await runGpu(kernelFor(headDim, {}), pre, 'prefill', false), preRef, pre, `tiled prefill ${what} pos0 ${pos0 - 100} M 100`, tolerance(pre));
    }
  });
});

// The fused RoPE + append + split-K pass for one token, against rope_kv then the split-K pass on
// the same earlier cache: the same cache bits, and both within the bound of the reference built
// from that cache and the rotated q (as attention.test.ts's fused cases), with the earlier rows
// no head may see NaN.
interface FusedCase {
  label: string;
  shape: AttentionShape;
  pos: number;
  chunk: number;
}
const FUSED_CASES: FusedCase[] = [
  { label: 'tiny blocks', shape: sparseShape(4, 1, 32, 640, sp(4, 1, 8, 1)), pos: 597, chunk: 64 },
  { label: 'Phi-3-small-like blocks of 64', shape: sparseShape(32, 8, 128, 700, sp(64, 2, 8, 1)), pos: 600, chunk: 128 },
  { label: 'one KV head per query head, chunk off the blocks', shape: sparseShape(4, 4, 64, 640, sp(4, 16, 5, 1)), pos: 599, chunk: 100 },
  { label: 'the new key first in its chunk and block, homogeneous heads, every other block vertical', shape: sparseShape(4, 2, 64, 640, sp(16, 3, 2, 0)), pos: 512, chunk: 64 },
  { label: 'sliding window too, homogeneous heads, every other block vertical', shape: sparseShape(32, 2, 32, 640, sp(16, 1, 8, 0), 400), pos: 599, chunk: 64 },
];

for (const [name, variant] of [...DECODE_VARIANTS, ['keys, q8_0 cache', { kvType: 'q8_0' }], ['lanes, q8_0 cache', { decodeVariant: 'lanes', kvType: 'q8_0' }]] as [string, AttentionOptions][]) {
  describe(`block-sparse fused RoPE + append + split-K decode, ${name}`, () => {
    it('every case', async () => {
      for (const c of FUSED_CASES) {
        const kvType = variant.kvType ?? 'f16';
        if (kvType === 'q8_0' && c.shape.headDim !== 64) continue;
        const { nHeads, nKvHeads, headDim, maxCtx } = c.shape;
        const { pos } = c;
        const rope: RopeKvShape = { nHeads, nKvHeads, headDim, ropeDim: headDim, maxCtx, base: 10000, attnFactor: 1 };
        const qkv = new Rng(pos).fill((nHeads + 2 * nKvHeads) * headDim, -2, 2);
        const ropeKernel = new RopeKvKernel(device, 'neox', undefined, undefined, kvType);
        const att = kernelFor(headDim, { ...variant, chunk: c.chunk });
        const hidden = hiddenRows(c.shape, pos, 1, pos);
        const earlier = (seed: number) => {
          const words = packCache(new Rng(seed).fill(nKvHeads * pos * headDim, -1.5, 1.5), nKvHeads, pos, headDim, maxCtx, kvType);
          expect(poison(words, hidden, maxCtx, headDim, kvType), 'rows no head sees').toBeGreaterThan(0);
          return words;
        };

        const run = async (fused: boolean) => {
          const bytes = cacheBytes(nKvHeads, headDim, maxCtx, kvType);
          const kCache = uploadStorage(device, earlier(pos + 1), 'k');
          const vCache = uploadStorage(device, earlier(pos + 2), 'v');
          const qkvBuf = uploadStorage(device, qkv, 'qkv');
          const q = createStorage(device, nHeads * headDim * 4, 'q');
          const out = createStorage(device, nHeads * headDim * 4, 'att');
          const step = createStepBuffer(device);
          writeStep(device, step, { pos0: pos, nTokens: 1 });
          const factors = ropeKernel.createUnitFactors(headDim);
          const ropeParams = ropeKernel.createParams(rope);
          const params = att.createParams(c.shape);
          const scratch = att.createScratch(c.shape);
          const shared = { shape: c.shape, params, step, scratch };
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          if (fused) {
            att.encodeDecodeRope(pass, att.bindDecode(shared, { k: kCache, v: vCache }, { qkv: qkvBuf, factors, ropeParams }, out), pos);
          } else {
            ropeKernel.encode(pass, ropeKernel.bind(qkvBuf, factors, q, kCache, vCache, step, ropeParams), 1, nHeads, nKvHeads);
            att.encode(pass, att.bind(shared, { k: kCache, v: vCache }, q, out), { pos0: pos, nTokens: 1 });
          }
          pass.end();
          device.queue.submit([enc.finish()]);
          const res = {
            att: new Float32Array(await readBuffer(device, out, nHeads * headDim * 4)),
            q: new Float32Array(await readBuffer(device, q, nHeads * headDim * 4)),
            k: new Uint32Array(await readBuffer(device, kCache, bytes)),
            v: new Uint32Array(await readBuffer(device, vCache, bytes)),
          };
          for (const b of [kCache, vCache, qkvBuf, q, out, step, factors, ropeParams, params, scratch.partO, scratch.partML]) b.destroy();
          return res;
        };

        const twoPass = await run(false);
        const fused = await run(true);
        const what = `${name} ${c.label} ${nHeads}/${nKvHeads}x${headDim} pos ${pos}`;
        const firstDiff = (x: Uint32Array, y: Uint32Array) => x.findIndex((w, i) => w !== y[i]);
        expect(firstDiff(fused.k, twoPass.k), `${what}: first differing K word`).toBe(-1);
        expect(firstDiff(fused.v, twoPass.v), `${what}: first differing V word`).toBe(-1);
        const kvLen = pos + 1;
        const kv = { k: unpackCache(fused.k, nKvHeads, maxCtx, headDim, kvLen, kvType), v: unpackCache(fused.v, nKvHeads, maxCtx, headDim, kvLen, kvType) };
        const inp: Inputs = { shape: c.shape, pos0: pos, M: 1, q: twoPass.q, ...kv };
        const ref = attentionRef(twoPass.q, kv.k, kv.v, kvLen, 1, pos, c.shape);
        const tol = tolerance(inp);
        expectClose(fused.att, ref, inp, `fused ${what}`, tol);
        expectClose(twoPass.att, ref, inp, `two-pass ${what}`, tol);
      }
    });
  });
}

describe('block-sparse pattern: helpers and the Params uniform', () => {
  it('sparseKeysRead equals the brute-force count over keyVisible (per query head, and the union per KV group)', () => {
    const rng = new Rng(77);
    for (let t = 0; t < 300; t++) {
      const nKvHeads = [1, 2, 8][rng.int(0, 2)];
      const nHeads = nKvHeads * [1, 2, 4][rng.int(0, 2)];
      const sparse = t % 10 === 0 ? undefined : sp([1, 4, 16, 64][rng.int(0, 3)], rng.int(1, 16), rng.int(1, 8), rng.int(0, 1));
      const pos = rng.int(0, 1200);
      const window = rng.next() < 0.3 ? rng.int(1, 900) : 0;
      let perQueryHead = 0;
      let perKvHeadUnion = 0;
      const group = nHeads / nKvHeads;
      for (let g = 0; g < nKvHeads; g++) {
        for (let j = windowStart(pos, window); j <= pos; j++) {
          let any = false;
          for (let h = g * group; h < (g + 1) * group; h++) {
            if (keyVisible(sparse, h, pos, j)) {
              perQueryHead++;
              any = true;
            }
          }
          if (any) perKvHeadUnion++;
        }
      }
      expect(sparseKeysRead(sparse, nHeads, nKvHeads, pos, window), JSON.stringify({ sparse, nHeads, nKvHeads, pos, window })).toEqual({ perQueryHead, perKvHeadUnion });
    }
    // Phi-3-small (32 heads, 8 KV heads, B 64, 16 local blocks, stride 8, step 1) at 4095: each
    // head sees its 16 local blocks and 6 vertical ones before them (48 blocks, one in 8).
    const phi3small = sp(64, 16, 8, 1);
    expect(sparseKeysRead(phi3small, 32, 8, 4095).perQueryHead).toBe(32 * 64 * (16 + 6));
    // A group of 4 heads with step 1 sees 4 of each 8 blocks before the local ones.
    expect(sparseKeysRead(phi3small, 32, 8, 4095).perKvHeadUnion).toBe(8 * 64 * (16 + 24));
  });

  it('the Params uniform is whole 16-byte rows and holds the pattern and the scale', () => {
    expect(AttentionKernel.uniforms.byteSize % 16).toBe(0);
    const names = AttentionKernel.uniforms.fields.map(([n]) => n);
    for (const f of ['scale', 'sparseBlock', 'localBlocks', 'vertStride', 'headStep']) expect(names).toContain(f);
    const values = new DataView(AttentionKernel.uniforms.pack({
      nHeads: 32, nKvHeads: 8, maxCtx: 4096, window: 0, scale: 1 / 128, maxChunks: 16, sparseBlock: 64, localBlocks: 16, vertStride: 8, headStep: 1, _pad0: 0, _pad1: 0,
    }));
    expect(values.getFloat32(4 * names.indexOf('scale'), true)).toBe(1 / 128);
    expect(values.getUint32(4 * names.indexOf('sparseBlock'), true)).toBe(64);
  });

  it('refuses patterns the shaders cannot take', () => {
    expect(blockSparseProblem(sp(64, 16, 8, 1))).toBeNull();
    expect(blockSparseProblem(sp(0, 16, 8, 1))).toMatch(/blockSize/);
    expect(blockSparseProblem(sp(64, 0, 8, 1))).toMatch(/localBlocks/);
    expect(blockSparseProblem(sp(64, 16, 0, 1))).toMatch(/vertStride/);
    expect(blockSparseProblem(sp(64, 16, 8, -1))).toMatch(/headStep/);
    expect(blockSparseProblem(sp(64.5, 16, 8, 1))).toMatch(/whole/);
    const k = kernelFor(32, {});
    expect(() => k.createParams(sparseShape(4, 1, 32, 64, sp(4, 0, 2, 1)))).toThrow(/localBlocks/);
  });
});
