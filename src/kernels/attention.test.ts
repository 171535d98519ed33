import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { createStorage, readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { createStepBuffer, writeStep, type Step } from './step.ts';
import { AttentionKernel, attentionOptionsProblem, decodeChunks, lanesShape, windowStart, type AttentionOptions, type AttentionShape } from './attention.ts';
import { attentionRef } from './attention.ref.ts';
import { RopeKvKernel, type RopeKvShape } from './rope_kv.ts';
import { kvLayerBytes } from '../model/config.ts';
import { packKvCache, roundF16, unpackKvCache } from './kv-cache.ref.ts';
// Tolerances: the bound derived in test-attention.ts (tolerance).
import { cacheBytes, cacheWords, makeInputs, packCache, tolerance, tolerance16, unpackCache, type Inputs } from './test-attention.ts';

const gpu = gpuForTests();
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
});

async function runGpu(kernel: AttentionKernel, inp: Inputs, path: 'decode' | 'prefill'): Promise<Float32Array> {
  const { shape, pos0, M } = inp;
  const n = M * shape.nHeads * shape.headDim;
  const q = uploadStorage(device, inp.q, 'q');
  const kCache = uploadStorage(device, cacheWords(inp.k, inp, kernel.kvType), 'k');
  const vCache = uploadStorage(device, cacheWords(inp.v, inp, kernel.kvType), 'v');
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

/** Checks got against ref within tol per (m, h) (by default the bound above); the worst error / tol. */
function expectClose(got: Float32Array, ref: Float64Array, inp: Inputs, what: string, tol = tolerance(inp)): number {
  const { nHeads, headDim } = inp.shape;
  let bad = 0;
  let worst = 0;
  const report: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const t = tol[Math.floor(i / headDim)];
    const err = Math.abs(got[i] - ref[i]);
    worst = Math.max(worst, err / t);
    if (!(err <= t)) {
      bad++;
      if (report.length < 6) {
        const m = Math.floor(i / (nHeads * headDim));
        report.push(`[m=${m} h=${Math.floor(i / headDim) % nHeads} d=${i % headDim}] ${got[i]} vs ${ref[i]} (tol ${t.toExponential(2)})`);
      }
    }
  }
  expect(bad, `${what}: ${bad}/${ref.length} out of tolerance: ${report.join('; ')}`).toBe(0);
  return worst;
}

async function check(kernel: AttentionKernel, inp: Inputs, paths: ('decode' | 'prefill')[]) {
  const ref = attentionRef(inp.q, inp.k, inp.v, inp.pos0 + inp.M, inp.M, inp.pos0, inp.shape);
  for (const path of paths) {
    const got = await runGpu(kernel, inp, path);
    const s = inp.shape;
    expectClose(got, ref, inp, `${path} ${s.nHeads}/${s.nKvHeads}x${s.headDim} pos0 ${inp.pos0} M ${inp.M} window ${s.window}`);
  }
}

function expectNear(got: Float32Array, want: number[]) {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i], `element ${i}`).toBeCloseTo(w, 6));
}

const shape = (nHeads: number, nKvHeads: number, headDim: number, maxCtx: number, window = 0): AttentionShape => ({ nHeads, nKvHeads, headDim, maxCtx, window });

describe('attention kernels vs CPU reference', () => {
  const kernels = new Map<string, AttentionKernel>();
  const kernelFor = (headDim: number, opts: AttentionOptions = {}) => {
    const key = `${headDim} ${JSON.stringify(opts)}`;
    if (!kernels.has(key)) kernels.set(key, new AttentionKernel(device, headDim, opts));
    return kernels.get(key)!;
  };

  it('fixed cases: uniform weights give the mean of visible V; ln 2 gives weights 2/3, 1/3', async () => {
    const k2 = kernelFor(2);
    // q = 0: every visible key weighs the same.
    const v = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const base: Inputs = { shape: shape(1, 1, 2, 8), pos0: 0, M: 4, q: new Float32Array(8), k: new Float32Array([1, 0, 0, 1, 1, 1, -1, 0]), v };
    expectNear(await runGpu(k2, base, 'prefill'), [1, 2, 2, 3, 3, 4, 4, 5]);
    // Window 2: each row sees itself and the one before.
    const win = { ...base, shape: shape(1, 1, 2, 8, 2) };
    expectNear(await runGpu(k2, win, 'prefill'), [1, 2, 2, 3, 4, 5, 6, 7]);
    // Decode of the last row: same numbers.
    const last = { ...base, pos0: 3, M: 1, q: new Float32Array(2) };
    expectNear(await runGpu(k2, last, 'decode'), [4, 5]);
    expectNear(await runGpu(k2, { ...last, shape: shape(1, 1, 2, 8, 2) }, 'decode'), [6, 7]);
    // score(k0) = ln 2 * sqrt 2 * 1 / sqrt 2 = ln 2, score(k1) = 0: weights 2/3 and 1/3.
    const ln2: Inputs = { shape: shape(1, 1, 2, 8), pos0: 1, M: 1, q: new Float32Array([Math.LN2 * Math.SQRT2, 0]), k: new Float32Array([1, 0, 0, 0]), v: new Float32Array([3, 0, 0, 3]) };
    for (const path of ['decode', 'prefill'] as const) {
      const got = await runGpu(k2, ln2, path);
      expect(got[0]).toBeCloseTo(2, 6);
      expect(got[1]).toBeCloseTo(1, 6);
    }
  });

  it('window of 1: each row is its own V exactly', async () => {
    for (const [path, pos0, M] of [['prefill', 250, 37], ['decode', 286, 1], ['decode', 283, 4]] as const) {
      const inp = makeInputs(shape(4, 2, 64, 300, 1), pos0, M, 1, 3);
      const got = await runGpu(kernelFor(64), inp, path);
      const kvLen = pos0 + M;
      for (let m = 0; m < M; m++) {
        for (let h = 0; h < 4; h++) {
          const row = got.subarray((m * 4 + h) * 64, (m * 4 + h + 1) * 64);
          const self = ((h >> 1) * kvLen + pos0 + m) * 64;
          expect([...row], `${path} m=${m} h=${h}`).toEqual([...inp.v.subarray(self, self + 64)]);
        }
      }
    }
  });

  it('decode (M = 1 and small M): Phi-3 heads, far into the context, several chunks', async () => {
    await check(kernelFor(96), makeInputs(shape(32, 32, 96, 4096), 3000, 1, 2), ['decode', 'prefill']);
    await check(kernelFor(96), makeInputs(shape(4, 4, 96, 2000), 1533, 3, 3, 3), ['decode', 'prefill']);
  });

  it('GQA 4/2 and 32/8 at headDim 64 and 96, kvLen not a multiple of chunk or tile', async () => {
    await check(kernelFor(64), makeInputs(shape(4, 2, 64, 1200), 1100, 4, 4, 2), ['decode', 'prefill']);
    await check(kernelFor(64), makeInputs(shape(32, 8, 64, 800), 700, 37, 5), ['prefill']);
    await check(kernelFor(96), makeInputs(shape(32, 8, 96, 600), 517, 1, 6, 4), ['decode', 'prefill']);
  });

  it('sliding window smaller than the context: chunks and tiles before the window are skipped', async () => {
    // Window 300 with 64-key chunks: most chunks lie wholly before the window; NaN-filled slots
    // there prove they are never read. Window 2047 is Phi-3-mini's.
    const small = kernelFor(64, { chunk: 64 });
    await check(small, makeInputs(shape(4, 2, 64, 2100, 300), 2000, 1, 7, 2), ['decode', 'prefill']);
    await check(small, makeInputs(shape(4, 2, 64, 2100, 300), 1990, 4, 8), ['decode', 'prefill']);
    await check(small, makeInputs(shape(4, 4, 64, 2100, 7), 1500, 45, 9, 2), ['prefill']);
    await check(kernelFor(96), makeInputs(shape(4, 4, 96, 2600, 2047), 2500, 3, 10), ['decode', 'prefill']);
    await check(kernelFor(96), makeInputs(shape(4, 4, 96, 2600, 2047), 2000, 70, 11), ['prefill']);
  });

  it('prefill from position 0, M up to 129 (several query tiles, last one partial)', async () => {
    await check(kernelFor(96), makeInputs(shape(4, 2, 96, 200), 0, 129, 12, 2), ['prefill']);
    await check(kernelFor(64), makeInputs(shape(2, 1, 64, 100), 0, 1, 13), ['decode', 'prefill']);
  });

  it('random shapes and options', async () => {
    const rng = new Rng(14);
    for (let t = 0; t < 8; t++) {
      const headDim = [64, 96, 32, 2 * rng.int(1, 64)][t % 4];
      const nKvHeads = rng.int(1, 3);
      const s = shape(nKvHeads * rng.int(1, 3), nKvHeads, headDim, 0, rng.next() < 0.5 ? 0 : rng.int(1, 500));
      const M = rng.next() < 0.5 ? rng.int(1, 4) : rng.int(5, 40);
      const pos0 = rng.int(0, 1500);
      s.maxCtx = pos0 + M + rng.int(0, 50);
      const opts: AttentionOptions = { chunk: [256, 64, 100][t % 3], tileK: [32, 16, 8][t % 3], tileQ: [16, 8, 4][(t + 1) % 3], threadsPerRow: [8, 4, 16][t % 3] };
      const kernel = new AttentionKernel(device, headDim, opts);
      await check(kernel, makeInputs(s, pos0, M, 200 + t, rng.uniform(0.5, 4)), M <= 4 ? ['decode', 'prefill'] : ['prefill']);
    }
  });

  it('decodeChunks counts the chunks the shaders visit', () => {
    expect(decodeChunks(0, 1, 0, 256)).toEqual({ first: 0, count: 1 });
    expect(decodeChunks(255, 1, 0, 256)).toEqual({ first: 0, count: 1 });
    expect(decodeChunks(256, 1, 0, 256)).toEqual({ first: 0, count: 2 });
    // Window 2047 at pos 4000: keys 1954..4000, chunks 7..15.
    expect(decodeChunks(4000, 1, 2047, 256)).toEqual({ first: 7, count: 9 });
    expect(windowStart(2046, 2047)).toBe(0);
    expect(windowStart(2047, 2047)).toBe(1);
  });
});

describe('rope_kv + attention: one step of 38 tokens equals 37 then 1', () => {
  it('same cache, same outputs (prefill then split-K decode vs one prefill)', async () => {
    const rope: RopeKvShape = { nHeads: 8, nKvHeads: 2, headDim: 96, ropeDim: 96, maxCtx: 1300, base: 10000, attnFactor: 1 };
    const attShape = shape(8, 2, 96, 1300, 1000);
    const P = 1234;
    const M = 38;
    const rowLen = (rope.nHeads + 2 * rope.nKvHeads) * rope.headDim;
    const rng = new Rng(15);
    const qkv = rng.fill(M * rowLen, -2, 2);
    // An earlier context: positions 0 .. P-1 already in the cache.
    const earlier = (seed: number) => packKvCache(new Rng(seed).fill(2 * P * 96, -1.5, 1.5), 2, P, 96, rope.maxCtx);
    const ropeKernel = new RopeKvKernel(device);
    const att = kernelFor96();

    async function run(steps: Step[]) {
      const bytes = kvLayerBytes({ nKvHeads: 2, headDim: 96 }, rope.maxCtx);
      const kCache = uploadStorage(device, earlier(16), 'k');
      const vCache = uploadStorage(device, earlier(17), 'v');
      const qkvBuf = createStorage(device, M * rowLen * 4, 'qkv');
      const q = createStorage(device, M * 8 * 96 * 4, 'q');
      const out = createStorage(device, M * 8 * 96 * 4, 'att');
      const step = createStepBuffer(device);
      const ones = ropeKernel.createUnitFactors(96);
      const ropeParams = ropeKernel.createParams(rope);
      const attParams = att.createParams(attShape);
      const scratch = att.createScratch(attShape);
      const ropeGroup = ropeKernel.bind(qkvBuf, ones, q, kCache, vCache, step, ropeParams);
      const attBinding = att.bind({ shape: attShape, params: attParams, step, scratch }, { k: kCache, v: vCache }, q, out);
      const result = new Float32Array(M * 8 * 96);
      for (const s of steps) {
        // This step's rows of qkv, then the step uniform, then one pass.
        const first = s.pos0 - P;
        device.queue.writeBuffer(qkvBuf, 0, qkv.buffer as ArrayBuffer, first * rowLen * 4, s.nTokens * rowLen * 4);
        writeStep(device, step, s);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        ropeKernel.encode(pass, ropeGroup, s.nTokens, 8, 2);
        att.encode(pass, attBinding, s);
        pass.end();
        device.queue.submit([enc.finish()]);
        result.set(new Float32Array(await readBuffer(device, out, s.nTokens * 8 * 96 * 4)), first * 8 * 96);
      }
      const caches = { k: new Uint32Array(await readBuffer(device, kCache, bytes)), v: new Uint32Array(await readBuffer(device, vCache, bytes)) };
      for (const b of [kCache, vCache, qkvBuf, q, out, step, ones, ropeParams, attParams, scratch.partO, scratch.partML]) b.destroy();
      return { att: result, ...caches };
    }

    const split = await run([
      { pos0: P, nTokens: 37 },
      { pos0: P + 37, nTokens: 1 },
    ]);
    const whole = await run([{ pos0: P, nTokens: M }]);
    // RoPE and the append do not depend on how the steps are cut: bit-identical caches.
    expect(split.k).toEqual(whole.k);
    expect(split.v).toEqual(whole.v);
    // Rows 0..36 come from the same prefill tiles over the same keys: identical.
    expect(split.att.subarray(0, 37 * 768)).toEqual(whole.att.subarray(0, 37 * 768));
    // Row 37: split-K decode vs prefill, both within the f32 bound of the reference built from
    // the cache contents and the rotated q of that row.
    const kvLen = P + M;
    const kv = { k: unpackKvCache(whole.k, 2, rope.maxCtx, 96, 0, kvLen), v: unpackKvCache(whole.v, 2, rope.maxCtx, 96, 0, kvLen) };
    const lastQ = await rotatedQ(ropeKernel, rope, qkv.subarray(37 * rowLen), P + 37);
    const inp: Inputs = { shape: attShape, pos0: P + 37, M: 1, q: lastQ, ...kv };
    const ref = attentionRef(lastQ, kv.k, kv.v, kvLen, 1, P + 37, attShape);
    expectClose(split.att.subarray(37 * 768), ref, inp, 'decode after prefill');
    expectClose(whole.att.subarray(37 * 768), ref, inp, 'prefill of 38');
  });

  function kernelFor96() {
    return new AttentionKernel(device, 96);
  }

  /** The GPU's rotated q for one token (what attention consumed). */
  async function rotatedQ(kernel: RopeKvKernel, rope: RopeKvShape, row: Float32Array, pos: number): Promise<Float32Array> {
    const qkv = uploadStorage(device, row, 'qkv');
    const q = createStorage(device, rope.nHeads * rope.headDim * 4, 'q');
    const bytes = kvLayerBytes(rope, rope.maxCtx);
    const k = createStorage(device, bytes, 'k');
    const v = createStorage(device, bytes, 'v');
    const step = createStepBuffer(device);
    writeStep(device, step, { pos0: pos, nTokens: 1 });
    const ones = kernel.createUnitFactors(rope.ropeDim);
    const params = kernel.createParams(rope);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    kernel.encode(pass, kernel.bind(qkv, ones, q, k, v, step, params), 1, rope.nHeads, rope.nKvHeads);
    pass.end();
    device.queue.submit([enc.finish()]);
    const out = new Float32Array(await readBuffer(device, q, rope.nHeads * rope.headDim * 4));
    for (const b of [qkv, q, k, v, step, ones, params]) b.destroy();
    return out;
  }
});

/** The fused pass's cases, for the split-K layout `variant` selects (decodeVariant and its options). */
function fusedTests(title: string, variant: AttentionOptions) {
  describe(title, () => {
    // One decoded token, two ways on the same earlier cache: rope_kv then the split-K pass (each
    // tested against its CPU reference above and in rope_kv.test.ts), and the fused pass. The
    // fused pass promises the same cache bits (same RoPE code, same f16 rounding) and attention
    // within the f32 bound of the CPU reference built from that cache and the rotated q. A fused
    // pass that rotated k differently, wrote the wrong row or head, or skipped the new key for
    // the cached (stale) one fails these: the new key's stale slot is filled with NaN below.
    interface Case {
      rope: RopeKvShape;
      window: number;
      pos: number;
      style: 'neox' | 'norm';
      factors?: Float32Array;
      chunk?: number;
    }
    const CASES: [string, Case][] = [
      ['Phi-3 heads 32/32x96 at pos 3000 (several chunks)', { rope: { nHeads: 32, nKvHeads: 32, headDim: 96, ropeDim: 96, maxCtx: 3072, base: 10000, attnFactor: 1 }, window: 0, pos: 3000, style: 'neox' }],
      ['GQA 8/2, window 1000, pos at a chunk start (the new key alone in its chunk)', { rope: { nHeads: 8, nKvHeads: 2, headDim: 96, ropeDim: 96, maxCtx: 1400, base: 10000, attnFactor: 1 }, window: 1000, pos: 1280, style: 'neox' }],
      ['pos 0 (only the new key)', { rope: { nHeads: 4, nKvHeads: 4, headDim: 96, ropeDim: 96, maxCtx: 64, base: 10000, attnFactor: 1 }, window: 0, pos: 0, style: 'neox' }],
      ['norm style, partial rotation, LongRoPE factors and attention factor, chunk 64', {
        rope: { nHeads: 6, nKvHeads: 3, headDim: 64, ropeDim: 48, maxCtx: 700, base: 500000, attnFactor: 1.19 },
        window: 0,
        pos: 517,
        style: 'norm',
        factors: new Rng(30).fill(24, 1, 40),
        chunk: 64,
      }],
      ['GQA 8/2 at headDim 128, window 700, pos 900', { rope: { nHeads: 8, nKvHeads: 2, headDim: 128, ropeDim: 128, maxCtx: 1000, base: 10000, attnFactor: 1 }, window: 700, pos: 900, style: 'neox' }],
      ['headDim 74 (37 f16 pairs: scalar loads), norm style, chunk 100', { rope: { nHeads: 3, nKvHeads: 1, headDim: 74, ropeDim: 74, maxCtx: 400, base: 10000, attnFactor: 1 }, window: 0, pos: 333, style: 'norm', chunk: 100 }],
    ];

    for (const [label, c] of CASES) {
      if (variant.kvType === 'q8_0' && c.rope.headDim % 32) continue;
      it(label, async () => {
        const { rope, pos } = c;
        const { nHeads, nKvHeads, headDim, maxCtx } = rope;
        const attShape = shape(nHeads, nKvHeads, headDim, maxCtx, c.window);
        const rowLen = (nHeads + 2 * nKvHeads) * headDim;
        const qkv = new Rng(31).fill(rowLen, -2, 2);
        const kvType = variant.kvType ?? 'f16';
        const ropeKernel = new RopeKvKernel(device, c.style, undefined, undefined, kvType);
        const att = new AttentionKernel(device, headDim, { ...variant, ropeStyle: c.style, chunk: c.chunk });
        // Positions < pos hold earlier keys; slot pos and later hold NaN (never to be read).
        const earlier = (seed: number) => packCache(new Rng(seed).fill(nKvHeads * pos * headDim, -1.5, 1.5), nKvHeads, pos, headDim, maxCtx, kvType);

        async function run(fused: boolean) {
          const bytes = cacheBytes(nKvHeads, headDim, maxCtx, kvType);
          const kCache = uploadStorage(device, earlier(32), 'k');
          const vCache = uploadStorage(device, earlier(33), 'v');
          const qkvBuf = uploadStorage(device, qkv, 'qkv');
          const q = createStorage(device, nHeads * headDim * 4, 'q');
          const out = createStorage(device, nHeads * headDim * 4, 'att');
          const step = createStepBuffer(device);
          writeStep(device, step, { pos0: pos, nTokens: 1 });
          const factors = c.factors ? uploadStorage(device, c.factors, 'factors') : ropeKernel.createUnitFactors(rope.ropeDim);
          const ropeParams = ropeKernel.createParams(rope);
          const attParams = att.createParams(attShape);
          const scratch = att.createScratch(attShape);
          const binding = att.bind({ shape: attShape, params: attParams, step, scratch }, { k: kCache, v: vCache }, q, out);
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          if (fused) {
            att.encodeDecodeRope(pass, att.bindDecode({ shape: attShape, params: attParams, step, scratch }, { k: kCache, v: vCache }, { qkv: qkvBuf, factors, ropeParams }, out), pos);
          } else {
            ropeKernel.encode(pass, ropeKernel.bind(qkvBuf, factors, q, kCache, vCache, step, ropeParams), 1, nHeads, nKvHeads);
            att.encode(pass, binding, { pos0: pos, nTokens: 1 });
          }
          pass.end();
          device.queue.submit([enc.finish()]);
          const res = {
            att: new Float32Array(await readBuffer(device, out, nHeads * headDim * 4)),
            q: new Float32Array(await readBuffer(device, q, nHeads * headDim * 4)),
            k: new Uint32Array(await readBuffer(device, kCache, bytes)),
            v: new Uint32Array(await readBuffer(device, vCache, bytes)),
          };
          for (const b of [kCache, vCache, qkvBuf, q, out, step, factors, ropeParams, attParams, scratch.partO, scratch.partML]) b.destroy();
          return res;
        }

        const twoPass = await run(false);
        const fused = await run(true);
        // vitest's deep equality is far too slow for millions of words: first mismatch instead.
        const firstDiff = (x: Uint32Array, y: Uint32Array) => x.findIndex((w, i) => w !== y[i]);
        expect(firstDiff(fused.k, twoPass.k), 'first differing K word').toBe(-1);
        expect(firstDiff(fused.v, twoPass.v), 'first differing V word').toBe(-1);
        const kvLen = pos + 1;
        const kv = { k: unpackCache(fused.k, nKvHeads, maxCtx, headDim, kvLen, kvType), v: unpackCache(fused.v, nKvHeads, maxCtx, headDim, kvLen, kvType) };
        const inp: Inputs = { shape: attShape, pos0: pos, M: 1, q: twoPass.q, ...kv };
        const ref = attentionRef(twoPass.q, kv.k, kv.v, kvLen, 1, pos, attShape);
        expectClose(fused.att, ref, inp, `fused ${label}`);
        expectClose(twoPass.att, ref, inp, `two-pass ${label}`);
      });
    }
  });
}

/**
 * The 'lanes' variant in its layouts: the default shape (subgroup reductions where the device has
 * them) and workgroup-memory reductions only, each over every decode case; then forced lane
 * counts over a few cases (16 lanes: group sums through workgroup memory where subgroups may be
 * narrower; 2 lanes: several rounds of vectors per lane). The forced layouts compile slowly on
 * the CPU emulators, hence fewer cases.
 */
const LANES_VARIANTS: [string, AttentionOptions, 'all' | 'some'][] = [
  ['lanes', { decodeVariant: 'lanes' }, 'all'],
  ['lanes, no subgroups', { decodeVariant: 'lanes', subgroups: false }, 'all'],
  ['lanes, 16 lanes per key, workgroup 64', { decodeVariant: 'lanes', lanesPerKey: 16, decodeWorkgroupSize: 64 }, 'some'],
  ['lanes, 2 lanes per key, workgroup 32, no subgroups', { decodeVariant: 'lanes', lanesPerKey: 2, decodeWorkgroupSize: 32, subgroups: false }, 'some'],
];

fusedTests('fused RoPE + KV append + split-K decode (attention_decode_rope.wgsl)', {});
fusedTests('fused RoPE + KV append + split-K decode, q8_0 cache (attention_decode_rope.wgsl)', { kvType: 'q8_0' });
fusedTests('fused RoPE + KV append + split-K decode, lanes, q8_0 cache (attention_decode_rope_lanes.wgsl)', { decodeVariant: 'lanes', kvType: 'q8_0' });
fusedTests('fused RoPE + KV append + split-K decode, lanes, no subgroups, q8_0 cache (attention_decode_rope_lanes.wgsl)', { decodeVariant: 'lanes', subgroups: false, kvType: 'q8_0' });

describe('q8_0 cache: split-K decode and tiled prefill vs CPU reference', () => {
  const q8 = (headDim: number, opts: AttentionOptions = {}) => new AttentionKernel(device, headDim, { ...opts, kvType: 'q8_0' });
  const inputs = (s: AttentionShape, pos0: number, M: number, seed: number, qScale = 1) => makeInputs(s, pos0, M, seed, qScale, 'q8_0');

  it('Phi-3 heads far into the context; GQA at headDim 64 and 128; windows; M up to 129', async () => {
    await check(q8(96), inputs(shape(32, 32, 96, 3100), 3000, 1, 40), ['decode', 'prefill']);
    await check(q8(64), inputs(shape(4, 2, 64, 1200), 1100, 4, 41, 2), ['decode', 'prefill']);
    await check(q8(128), inputs(shape(8, 2, 128, 700), 600, 37, 42), ['prefill']);
    await check(q8(64, { chunk: 64 }), inputs(shape(4, 2, 64, 2100, 300), 1990, 4, 43), ['decode', 'prefill']);
    await check(q8(96), inputs(shape(4, 2, 96, 200), 0, 129, 44, 2), ['prefill']);
  });

  it('window of 1: each row is its own (dequantized) V exactly', async () => {
    for (const [path, pos0, M] of [['prefill', 250, 37], ['decode', 286, 1]] as const) {
      const inp = inputs(shape(4, 2, 64, 300, 1), pos0, M, 45, 3);
      const got = await runGpu(q8(64), inp, path);
      const kvLen = pos0 + M;
      for (let m = 0; m < M; m++) {
        for (let h = 0; h < 4; h++) {
          const self = ((h >> 1) * kvLen + pos0 + m) * 64;
          expect([...got.subarray((m * 4 + h) * 64, (m * 4 + h + 1) * 64)], `${path} m=${m} h=${h}`).toEqual([...inp.v.subarray(self, self + 64)]);
        }
      }
    }
  });

  it('lanes layouts (vectors of 8 dims): decode with and without subgroups, forced lane counts', async () => {
    for (const [, opts] of LANES_VARIANTS) {
      await check(q8(96, opts), inputs(shape(8, 2, 96, 700), 650, 3, 46, 2), ['decode']);
      await check(q8(64, { ...opts, chunk: 64 }), inputs(shape(4, 2, 64, 2100, 300), 2000, 1, 47, 2), ['decode']);
    }
    expect(lanesShape(96, 128, undefined, 'q8_0').vectorWords).toBe(4);
    expect(lanesShape(96, 64, 2, 'q8_0')).toEqual({ vectorWords: 4, vectors: 12, lanesPerKey: 2, rounds: 6, groups: 32 });
  });

  it('refuses head sizes off 32', () => {
    expect(attentionOptionsProblem(device, 80, { kvType: 'q8_0' })).toMatch(/multiple of 32/);
    expect(attentionOptionsProblem(device, 96, { kvType: 'q8_0' })).toBeNull();
  });
});
for (const [name, opts, which] of LANES_VARIANTS) {
  if (which === 'all') fusedTests(`fused RoPE + KV append + split-K decode, ${name} (attention_decode_rope_lanes.wgsl)`, opts);
}

describe('split-K decode, lanes variant (attention_decode_lanes.wgsl) vs CPU reference', () => {
  // The decode cases of 'attention kernels vs CPU reference' with each lanes layout; the same
  // tolerance holds (attention_lanes.wgsl): each score is an HD-term sum, each weight one exp, and
  // sum p v adds n terms through per-group sums then the G group sums: whatever the tree, n terms
  // take n - 1 rounded additions (zeros add exactly), within the (n + 64) u of the bound at the
  // top of this file. headDim 74 (37 vectors over 8 lanes) leaves the last round partial.
  for (const [name, variant, which] of LANES_VARIANTS) {
    const kernels = new Map<string, AttentionKernel>();
    const kernelFor = (headDim: number, opts: AttentionOptions = {}) => {
      const key = `${headDim} ${JSON.stringify(opts)}`;
      if (!kernels.has(key)) kernels.set(key, new AttentionKernel(device, headDim, { ...variant, ...opts }));
      return kernels.get(key)!;
    };

    it(`${name}: fixed cases (mean of visible V, window 2, weights 2/3 and 1/3)`, async () => {
      const k2 = kernelFor(2);
      const v = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
      const last: Inputs = { shape: shape(1, 1, 2, 8), pos0: 3, M: 1, q: new Float32Array(2), k: new Float32Array([1, 0, 0, 1, 1, 1, -1, 0]), v };
      expectNear(await runGpu(k2, last, 'decode'), [4, 5]);
      expectNear(await runGpu(k2, { ...last, shape: shape(1, 1, 2, 8, 2) }, 'decode'), [6, 7]);
      const ln2: Inputs = { shape: shape(1, 1, 2, 8), pos0: 1, M: 1, q: new Float32Array([Math.LN2 * Math.SQRT2, 0]), k: new Float32Array([1, 0, 0, 0]), v: new Float32Array([3, 0, 0, 3]) };
      const got = await runGpu(k2, ln2, 'decode');
      expect(got[0]).toBeCloseTo(2, 6);
      expect(got[1]).toBeCloseTo(1, 6);
    });

    if (which === 'some') {
      it(`${name}: GQA at headDim 64 and 96, several and partial chunks, window`, async () => {
        await check(kernelFor(64), makeInputs(shape(4, 2, 64, 1200), 1100, 4, 4, 2), ['decode']);
        await check(kernelFor(96), makeInputs(shape(8, 2, 96, 2600, 2047), 2500, 1, 10), ['decode']);
      });
      continue;
    }

    it(`${name}: window of 1, each row is its own V exactly`, async () => {
      for (const [pos0, M] of [[286, 1], [283, 4]] as const) {
        const inp = makeInputs(shape(4, 2, 64, 300, 1), pos0, M, 1, 3);
        const got = await runGpu(kernelFor(64), inp, 'decode');
        const kvLen = pos0 + M;
        for (let m = 0; m < M; m++) {
          for (let h = 0; h < 4; h++) {
            const row = got.subarray((m * 4 + h) * 64, (m * 4 + h + 1) * 64);
            const self = ((h >> 1) * kvLen + pos0 + m) * 64;
            expect([...row], `m=${m} h=${h}`).toEqual([...inp.v.subarray(self, self + 64)]);
          }
        }
      }
    });

    it(`${name}: Phi-3 heads, GQA, headDim 64/96/128, several and partial chunks`, async () => {
      await check(kernelFor(96), makeInputs(shape(32, 32, 96, 4096), 3000, 1, 2), ['decode']);
      await check(kernelFor(96), makeInputs(shape(4, 4, 96, 2000), 1533, 3, 3, 3), ['decode']);
      await check(kernelFor(64), makeInputs(shape(4, 2, 64, 1200), 1100, 4, 4, 2), ['decode']);
      await check(kernelFor(96), makeInputs(shape(32, 8, 96, 600), 517, 1, 6, 4), ['decode']);
      await check(kernelFor(128), makeInputs(shape(8, 2, 128, 900), 777, 2, 40, 2), ['decode']);
      await check(kernelFor(64), makeInputs(shape(2, 1, 64, 100), 0, 1, 13), ['decode']);
    });

    it(`${name}: sliding window smaller than the context`, async () => {
      const small = kernelFor(64, { chunk: 64 });
      await check(small, makeInputs(shape(4, 2, 64, 2100, 300), 2000, 1, 7, 2), ['decode']);
      await check(small, makeInputs(shape(4, 2, 64, 2100, 300), 1990, 4, 8), ['decode']);
      await check(kernelFor(96), makeInputs(shape(4, 4, 96, 2600, 2047), 2500, 3, 10), ['decode']);
    });

    it(`${name}: random shapes, odd pair counts, chunks`, async () => {
      const rng = new Rng(41);
      for (let t = 0; t < 4; t++) {
        const headDim = [32, 2 * rng.int(1, 64), 74, 2][t];
        const nKvHeads = rng.int(1, 3);
        const s = shape(nKvHeads * rng.int(1, 3), nKvHeads, headDim, 0, rng.next() < 0.5 ? 0 : rng.int(1, 500));
        const M = rng.int(1, 4);
        const pos0 = rng.int(0, 1500);
        s.maxCtx = pos0 + M + rng.int(0, 50);
        const kernel = kernelFor(headDim, { chunk: [256, 64, 100][t % 3] });
        await check(kernel, makeInputs(s, pos0, M, 300 + t, rng.uniform(0.5, 4)), ['decode']);
      }
    });
  }

  it('attentionOptionsProblem names what a device or shape rules out, and null when it can run', () => {
    expect(attentionOptionsProblem(device, 96, { decodeVariant: 'lanes' })).toBeNull();
    expect(attentionOptionsProblem(device, 96, {})).toBeNull();
    expect(attentionOptionsProblem(device, 96, { decodeVariant: 'lanes', lanesPerKey: 3 })).toMatch(/power of two/);
    expect(attentionOptionsProblem(device, 95, { decodeVariant: 'lanes' })).toMatch(/even/);
    expect(attentionOptionsProblem(device, 96, { decodeVariant: 'lanes', chunk: 8192 })).toMatch(/workgroup memory/);
    if (!device.features.has('subgroups')) expect(attentionOptionsProblem(device, 96, { decodeVariant: 'lanes', subgroups: true })).toMatch(/subgroups/);
  });

  it('lanesShape: whole rows per power of two of lanes, no idle lane where one exists', () => {
    expect(lanesShape(96, 128)).toEqual({ vectorWords: 2, vectors: 24, lanesPerKey: 8, rounds: 3, groups: 16 });
    expect(lanesShape(128, 128)).toEqual({ vectorWords: 4, vectors: 16, lanesPerKey: 16, rounds: 1, groups: 8 });
    expect(lanesShape(64, 128)).toEqual({ vectorWords: 4, vectors: 8, lanesPerKey: 8, rounds: 1, groups: 16 });
    expect(lanesShape(74, 128)).toEqual({ vectorWords: 1, vectors: 37, lanesPerKey: 8, rounds: 5, groups: 16 });
    expect(lanesShape(96, 64, 16)).toEqual({ vectorWords: 1, vectors: 48, lanesPerKey: 16, rounds: 3, groups: 4 });
  });
});

describe("prefill, 'rows-f16' variant (attention_prefill_f16.wgsl) vs CPU reference", () => {
  // Tolerance: tolerance16 (test-attention.ts), the f16 bound derived there.
  const BK_MAX = 32;

  async function check16(kernel: AttentionKernel, inp: Inputs) {
    const ref = attentionRef(inp.q, inp.k, inp.v, inp.pos0 + inp.M, inp.M, inp.pos0, inp.shape);
    const got = await runGpu(kernel, inp, 'prefill');
    const s = inp.shape;
    expectClose(got, ref, inp, `rows-f16 ${kernel.kvType} ${s.nHeads}/${s.nKvHeads}x${s.headDim} pos0 ${inp.pos0} M ${inp.M} window ${s.window}`, tolerance16(inp, kernel.tileK, kernel.kvType === 'q8_0'));
  }

  const has16 = () => device.features.has('shader-f16');
  // Few distinct shapes: the emulators compile each (fully unrolled) shape slowly.
  const kernels = new Map<string, AttentionKernel>();
  const make = (headDim: number, opts: AttentionOptions = {}) => {
    const key = `${headDim} ${JSON.stringify(opts)}`;
    if (!kernels.has(key)) kernels.set(key, new AttentionKernel(device, headDim, { prefillVariant: 'rows-f16', ...opts }));
    return kernels.get(key)!;
  };

  it("is ruled out exactly where the device lacks 'shader-f16'", () => {
    const problem = attentionOptionsProblem(device, 96, { prefillVariant: 'rows-f16' });
    if (has16()) expect(problem).toBeNull();
    else expect(problem).toMatch(/shader-f16/);
  });

  it('fixed cases: mean of visible V, window 2, and window 1 (each row its own V, exactly)', async () => {
    if (!has16()) return;
    const k2 = make(2);
    const v = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const base: Inputs = { shape: shape(1, 1, 2, 8), pos0: 0, M: 4, q: new Float32Array(8), k: new Float32Array([1, 0, 0, 1, 1, 1, -1, 0]), v };
    expectNear(await runGpu(k2, base, 'prefill'), [1, 2, 2, 3, 3, 4, 4, 5]);
    expectNear(await runGpu(k2, { ...base, shape: shape(1, 1, 2, 8, 2) }, 'prefill'), [1, 2, 2, 3, 4, 5, 6, 7]);
    const inp = makeInputs(shape(4, 2, 64, 300, 1), 250, 37, 1, 3);
    const got = await runGpu(make(64, { tileQ: 16, tileK: 16 }), inp, 'prefill');
    for (let m = 0; m < 37; m++) {
      for (let h = 0; h < 4; h++) {
        const self = ((h >> 1) * 287 + 250 + m) * 64;
        expect([...got.subarray((m * 4 + h) * 64, (m * 4 + h + 1) * 64)], `m=${m} h=${h}`).toEqual([...inp.v.subarray(self, self + 64)]);
      }
    }
  });

  it('Phi-3 heads, GQA, sliding windows, several row blocks and tiles, last ones partial', async () => {
    if (!has16()) return;
    const k96 = make(96);
    expect(k96.tileK).toBeLessThanOrEqual(BK_MAX);
    await check16(k96, makeInputs(shape(4, 2, 96, 200), 0, 129, 12, 2));
    await check16(k96, makeInputs(shape(4, 4, 96, 2600, 2047), 2000, 70, 11));
    await check16(make(64, { tileQ: 16, tileK: 16 }), makeInputs(shape(4, 4, 64, 2100, 7), 1500, 45, 9, 2));
    await check16(make(64, { tileQ: 16, tileK: 16 }), makeInputs(shape(32, 8, 64, 800), 700, 37, 5));
    await check16(make(128, { tileK: 16 }), makeInputs(shape(4, 1, 128, 400), 300, 20, 21, 2));
    await check16(make(74, { tileQ: 8 }), makeInputs(shape(3, 1, 74, 300, 100), 250, 30, 22));
  });

  it('q8_0 cache: tiles of q * d rounded to f16; Phi-3 heads, GQA, windows, window 1 exact', async () => {
    if (!has16()) return;
    const q8 = (headDim: number, opts: AttentionOptions = {}) => make(headDim, { ...opts, kvType: 'q8_0' });
    // two shapes only: the emulators compile each (fully unrolled) one slowly
    await check16(q8(96), makeInputs(shape(4, 2, 96, 200), 0, 129, 50, 2, 'q8_0'));
    await check16(q8(96), makeInputs(shape(4, 4, 96, 2600, 2047), 2000, 70, 51, 1, 'q8_0'));
    await check16(q8(64, { tileQ: 16, tileK: 16 }), makeInputs(shape(32, 8, 64, 800), 700, 37, 52, 1, 'q8_0'));
    // window 1: each row is its own v, which went through f16 exactly once
    const inp = makeInputs(shape(4, 2, 64, 300, 1), 250, 37, 54, 3, 'q8_0');
    const got = await runGpu(q8(64, { tileQ: 16, tileK: 16 }), inp, 'prefill');
    for (let m = 0; m < 37; m++) {
      for (let h = 0; h < 4; h++) {
        const self = ((h >> 1) * 287 + 250 + m) * 64;
        expect([...got.subarray((m * 4 + h) * 64, (m * 4 + h + 1) * 64)]).toEqual([...inp.v.subarray(self, self + 64)].map(roundF16));
      }
    }
  });
});
