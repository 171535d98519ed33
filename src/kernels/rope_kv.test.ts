import { beforeAll, describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { readBuffer, uploadStorage, createStorage } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import { createStepBuffer, writeStep } from './step.ts';
import { RopeKvKernel, type RopeKvShape, type RopeStyle } from './rope_kv.ts';
import { kvLayerBytes } from '../model/config.ts';
import { ropeAngles, ropeKvRef, type RopeRefOptions } from './rope_kv.ref.ts';
import { f16BitsToF32, f16Ulp, f32ToF16Bits, kvRowWords, quantizeQ8Block, unpackKvCacheQ8 } from './kv-cache.ref.ts';
import type { KvType } from '../model/config.ts';

// Tolerances, per element (x_a, x_b = the raw pair, theta_i its angle, A = attnFactor):
//
// 1. Against llama.cpp's own f32 angles (`angles: 'f32'`): the shader iterates theta *= thetaScale
//    in f32 exactly as ggml_rope_cache_init does, so the angles are the same f32 numbers (the
//    factor division is one correctly rounded op on both sides; WGSL allows 2.5 ulp, lavapipe
//    and SwiftShader round it correctly). What is left is sin/cos of that f32 argument: exact
//    range reduction, then a polynomial within ~2 ulp, i.e. <= 2^-22 absolute, and the products
//    and difference (2 ulp of the result). Bound: A (|x_a| + |x_b|) 2^-21 + 2^-22 |ref|; it does
//    not grow with the position, which is the point of the test: with WGSL's builtin sin/cos,
//    SwiftShader is off by ~1e-3 at pos 4000 and ~1e-2 at pos 100k and fails it (seen; lavapipe's
//    builtins pass). Measured here: <= 3.5e-7 absolute on both drivers, at every position.
// 2. Against the ideal f64 iteration (`angles: 'f64'`): add the f32 angle drift. thetaScale is
//    rounded once (rel 2^-24, raised to the power i) and each of the i products rounds once, the
//    division once: |d theta_i| <= (2i + 3) 2^-24 theta_i, so the output moves by at most
//    A (|x_a| + |x_b|) |d theta_i|. That is the f32 error llama.cpp has too; measured here: up to
//    4e-4 on outputs of size ~2 at positions 1000-4300, 7.6e-3 at pos 100k (with LongRoPE).
// 3. K in the cache is f16: one f16 ulp of the value on top (round to nearest gives half; WGSL
//    leaves the direction to the driver). V must be exactly the f16 rounding of the input, within
//    that same ulp.
const EPS = 2 ** -24;

const gpu = gpuForTests();
let device: GPUDevice;
beforeAll(() => {
  device = gpu.device;
});

const SENTINEL = 0xdeadbeef;

interface Case {
  shape: RopeKvShape;
  M: number;
  pos0: number;
  style?: RopeStyle;
  factors?: Float32Array;
  seed: number;
}

async function runGpu(kernel: RopeKvKernel, c: Case, qkv: Float32Array) {
  const { shape, M, pos0 } = c;
  const { nHeads, nKvHeads, headDim, maxCtx } = shape;
  const qkvBuf = uploadStorage(device, qkv, 'qkv');
  const factors = c.factors ? uploadStorage(device, c.factors, 'factors') : kernel.createUnitFactors(shape.ropeDim);
  const q = createStorage(device, M * nHeads * headDim * 4, 'q');
  const cacheBytes = kernel.kvType === 'f16' ? kvLayerBytes({ nKvHeads, headDim }, maxCtx) : nKvHeads * maxCtx * kvRowWords(headDim, kernel.kvType) * 4;
  const kCache = uploadStorage(device, new Uint32Array(cacheBytes / 4).fill(SENTINEL), 'k');
  const vCache = uploadStorage(device, new Uint32Array(cacheBytes / 4).fill(SENTINEL), 'v');
  const step = createStepBuffer(device);
  writeStep(device, step, { pos0, nTokens: M });
  const params = kernel.createParams(shape);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  kernel.encode(pass, kernel.bind(qkvBuf, factors, q, kCache, vCache, step, params), M, nHeads, nKvHeads);
  pass.end();
  device.queue.submit([enc.finish()]);
  const out = {
    q: new Float32Array(await readBuffer(device, q, M * nHeads * headDim * 4)),
    k: new Uint32Array(await readBuffer(device, kCache, cacheBytes)),
    v: new Uint32Array(await readBuffer(device, vCache, cacheBytes)),
  };
  for (const b of [qkvBuf, factors, q, kCache, vCache, step, params]) b.destroy();
  return out;
}

/**
 * Per-element bound for a rotated vector laid out as heads of headDim starting at element 0 of
 * `raw` (one row of qkv per m); `drift` adds the f32 angle error of tolerance (2).
 */
function elementTolerance(c: Case, raw: (h: number, d: number) => number, m: number, h: number, d: number, drift: boolean): number {
  const { ropeDim, attnFactor, base } = c.shape;
  if (d >= ropeDim) return 0;
  const half = ropeDim / 2;
  const neox = (c.style ?? 'neox') === 'neox';
  const i = neox ? d % half : d >> 1;
  const a = neox ? i : 2 * i;
  const b = neox ? i + half : a + 1;
  const mag = attnFactor * (Math.abs(raw(h, a)) + Math.abs(raw(h, b)));
  let dTheta = 0;
  if (drift) dTheta = (2 * i + 3) * EPS * ropeAngles(c.pos0 + m, base, ropeDim, { factors: c.factors })[i];
  return mag * (2 ** -21 + dTheta);
}

async function check(kernel: RopeKvKernel, c: Case) {
  const { shape, M, pos0 } = c;
  const { nHeads, nKvHeads, headDim, maxCtx } = shape;
  const rng = new Rng(c.seed);
  const rowLen = (nHeads + 2 * nKvHeads) * headDim;
  const qkv = rng.fill(M * rowLen, -2, 2);
  const got = await runGpu(kernel, c, qkv);
  const opts: RopeRefOptions = { style: c.style ?? 'neox', factors: c.factors };
  const words = headDim / 2;
  let worst64 = 0;

  for (const angles of ['f32', 'f64'] as const) {
    const drift = angles === 'f64';
    const ref = ropeKvRef(qkv, M, pos0, shape, { ...opts, angles });
    let bad = 0;
    const report: string[] = [];
    const fail = (what: string) => {
      bad++;
      if (report.length < 6) report.push(what);
    };
    for (let m = 0; m < M; m++) {
      const raw = (h: number, d: number) => qkv[m * rowLen + h * headDim + d];
      for (let h = 0; h < nHeads; h++) {
        for (let d = 0; d < headDim; d++) {
          const r = ref.q[(m * nHeads + h) * headDim + d];
          const g = got.q[(m * nHeads + h) * headDim + d];
          const tol = elementTolerance(c, raw, m, h, d, drift) + 2 ** -22 * Math.abs(r);
          if (drift) worst64 = Math.max(worst64, Math.abs(g - r));
          if (!(Math.abs(g - r) <= tol)) fail(`q[m=${m}, h=${h}, d=${d}] ${g} vs ${r} (tol ${tol.toExponential(2)}, ${angles} angles)`);
        }
      }
      const p = pos0 + m;
      for (let kh = 0; kh < nKvHeads; kh++) {
        for (let w = 0; w < words; w++) {
          const kw = got.k[(kh * maxCtx + p) * words + w];
          const vw = got.v[(kh * maxCtx + p) * words + w];
          for (let half = 0; half < 2; half++) {
            const d = 2 * w + half;
            const kg = f16BitsToF32(half ? kw >>> 16 : kw & 0xffff);
            const kr = ref.k[(kh * M + m) * headDim + d];
            const ktol = elementTolerance(c, raw, m, nHeads + kh, d, drift) + 2 ** -22 * Math.abs(kr) + f16Ulp(kr);
            if (!(Math.abs(kg - kr) <= ktol)) fail(`k[kv=${kh}, pos=${p}, d=${d}] ${kg} vs ${kr} (tol ${ktol.toExponential(2)}, ${angles} angles)`);
            const vg = f16BitsToF32(half ? vw >>> 16 : vw & 0xffff);
            const vr = ref.v[(kh * M + m) * headDim + d];
            if (!(Math.abs(vg - vr) <= f16Ulp(vr))) fail(`v[kv=${kh}, pos=${p}, d=${d}] ${vg} vs ${vr}`);
          }
        }
      }
    }
    expect(bad, `${bad} values out of tolerance: ${report.join('; ')}`).toBe(0);
  }

  // Nothing outside positions pos0 .. pos0+M-1 was written.
  let touched = 0;
  for (let kh = 0; kh < nKvHeads; kh++) {
    for (let p = 0; p < maxCtx; p++) {
      if (p >= pos0 && p < pos0 + M) continue;
      for (let w = 0; w < words; w++) {
        const i = (kh * maxCtx + p) * words + w;
        if (got.k[i] !== SENTINEL || got.v[i] !== SENTINEL) touched++;
      }
    }
  }
  expect(touched, 'cache words written outside the step').toBe(0);
  return worst64;
}

const phi3 = (maxCtx: number): RopeKvShape => ({ nHeads: 32, nKvHeads: 32, headDim: 96, ropeDim: 96, maxCtx, base: 10000, attnFactor: 1 });

describe('rope_kv kernel vs CPU reference', () => {
  let neox: RopeKvKernel;
  let norm: RopeKvKernel;
  beforeAll(() => {
    neox = new RopeKvKernel(device, 'neox');
    norm = new RopeKvKernel(device, 'norm');
  });

  it('fixed case: headDim 4 at pos 0 and 1', async () => {
    // One Q, one K, one V head of 4; NeoX pairs (0,2) and (1,3); theta_0 = pos, theta_1 = pos / 100.
    const shape: RopeKvShape = { nHeads: 1, nKvHeads: 1, headDim: 4, ropeDim: 4, maxCtx: 4, base: 10000, attnFactor: 1 };
    const row = [1, 2, 3, 4, -1, 0.5, 0, 2, 0.5, -1, 2, 65504];
    const qkv = new Float32Array([...row, ...row]);
    const got = await runGpu(neox, { shape, M: 2, pos0: 0, seed: 0 }, qkv);
    // pos 0: identity.
    expect([...got.q.slice(0, 4)]).toEqual([1, 2, 3, 4]);
    const [c1, s1, c2, s2] = [Math.cos(1), Math.sin(1), Math.cos(0.01), Math.sin(0.01)];
    const wantQ = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 1 * s1 + 3 * c1, 2 * s2 + 4 * c2];
    for (let d = 0; d < 4; d++) expect(got.q[4 + d]).toBeCloseTo(wantQ[d], 6);
    const unpack = (cache: Uint32Array, pos: number) => [0, 1].flatMap((w) => [cache[pos * 2 + w] & 0xffff, cache[pos * 2 + w] >>> 16]).map(f16BitsToF32);
    // K at pos 1: (-1, 0.5, 0, 2) -> (-cos 1, 0.5 cos .01 - 2 sin .01, -sin 1, 0.5 sin .01 + 2 cos .01), f16.
    const wantK = [-c1, 0.5 * c2 - 2 * s2, -s1, 0.5 * s2 + 2 * c2];
    unpack(got.k, 1).forEach((g, d) => expect(Math.abs(g - wantK[d])).toBeLessThanOrEqual(f16Ulp(wantK[d]) / 2 + 1e-6));
    expect(unpack(got.k, 0)).toEqual([-1, 0.5, 0, 2]);
    // V is stored as is (65504 is the largest f16).
    expect(unpack(got.v, 0)).toEqual([0.5, -1, 2, 65504]);
    expect(unpack(got.v, 1)).toEqual([0.5, -1, 2, 65504]);
    expect(got.k[4]).toBe(SENTINEL);
  });

  it('Phi-3 shape, decode step far into the context (pos 4000)', () => check(neox, { shape: phi3(4096), M: 1, pos0: 4000, seed: 1 }));

  it('Phi-3 shape, prefill chunk of 37 ending at the cache end', () => check(neox, { shape: phi3(2100), M: 37, pos0: 2063, seed: 2 }));

  it('GQA 4/2 and 32/8 at headDim 64, positions in the thousands', async () => {
    await check(neox, { shape: { nHeads: 4, nKvHeads: 2, headDim: 64, ropeDim: 64, maxCtx: 3000, base: 10000, attnFactor: 1 }, M: 19, pos0: 2981, seed: 3 });
    await check(neox, { shape: { nHeads: 32, nKvHeads: 8, headDim: 64, ropeDim: 64, maxCtx: 1300, base: 500000, attnFactor: 1 }, M: 5, pos0: 1234, seed: 4 });
  });

  it('partial rotary (ropeDim < headDim), both styles', async () => {
    const shape: RopeKvShape = { nHeads: 4, nKvHeads: 4, headDim: 96, ropeDim: 64, maxCtx: 700, base: 10000, attnFactor: 1 };
    await check(neox, { shape, M: 6, pos0: 690, seed: 5 });
    await check(norm, { shape, M: 6, pos0: 690, style: 'norm', seed: 6 });
  });

  it('GPT-J / llama "norm" style, full rotary', () =>
    check(norm, { shape: { nHeads: 4, nKvHeads: 2, headDim: 64, ropeDim: 64, maxCtx: 5000, base: 10000, attnFactor: 1 }, M: 9, pos0: 4321, style: 'norm', seed: 7 }));

  it('LongRoPE factors and attention factor, at positions near 100k', async () => {
    const rng = new Rng(8);
    const factors = new Float32Array(48).map((_, i) => 1 + i * 0.9 + rng.uniform(0, 0.5));
    const shape: RopeKvShape = { nHeads: 2, nKvHeads: 1, headDim: 96, ropeDim: 96, maxCtx: 100_010, base: 10000, attnFactor: Math.fround(Math.sqrt(1 + Math.log(32) / Math.log(4096))) };
    const worst = await check(neox, { shape, M: 3, pos0: 100_003, factors, seed: 9 });
    expect(worst).toBeGreaterThan(0);
  });

  it('random shapes', async () => {
    const rng = new Rng(10);
    for (let t = 0; t < 6; t++) {
      const nKvHeads = rng.int(1, 4);
      const headDim = 2 * rng.int(1, 64);
      const ropeDim = 2 * rng.int(1, headDim / 2);
      const M = rng.int(1, 12);
      const pos0 = rng.int(0, 3000);
      const style: RopeStyle = rng.next() < 0.5 ? 'neox' : 'norm';
      const shape: RopeKvShape = { nHeads: nKvHeads * rng.int(1, 3), nKvHeads, headDim, ropeDim, maxCtx: pos0 + M + rng.int(0, 5), base: 10000, attnFactor: 1 };
      // Heads per workgroup 1, 3 or 8 (the default): groups that straddle Q | K | V, partial last groups.
      const kernel = t % 3 === 2 ? (style === 'neox' ? neox : norm) : new RopeKvKernel(device, style, [32, 64][t % 2], [1, 3][t % 3]);
      await check(kernel, { shape, M, pos0, style, seed: 100 + t });
    }
  });
});

// q8_0 cache (kv-cache.ref.ts). V is quantized from the raw input, so the GPU must give the
// CPU's bytes exactly: amax and the products are exact or correctly rounded on every driver, and
// d = amax / 127 and id = 1 / d are single divisions, which lavapipe and SwiftShader round
// correctly (the rope factor division above relies on the same). A driver using WGSL's 2.5-ulp
// division allowance could move x * id across a half-integer (a rounding tie, one quant off by
// one) or d across an f16 rounding boundary: this test would report it rather than hide it.
// K is quantized from the GPU's own rotation, which differs from the reference's by the rotation
// tolerance t above (f32 angles), so q may differ where x * id lies within t * id of a
// half-integer; K is checked on the values instead: |q d16 - k_ref| <= d16 / 2 (the rounding)
// + 127 f16Ulp(d) / 2 (d rounded to f16) + t (1 + 1/127 per element: the amax moves by <= t)
// + 2^-22 |k_ref|, with d16 the GPU's stored scale.
async function checkQ8(kernel: RopeKvKernel, c: Case) {
  const { shape, M, pos0 } = c;
  const { nHeads, nKvHeads, headDim, maxCtx } = shape;
  const rng = new Rng(c.seed);
  const rowLen = (nHeads + 2 * nKvHeads) * headDim;
  const qkv = rng.fill(M * rowLen, -2, 2);
  // Some blocks of tiny, zero and huge values: d = 0, f16 subnormal and large scales.
  for (let i = 0; i < M * rowLen; i += 7 * 32) qkv[i] *= 1000;
  if (M * rowLen > 3 * headDim) qkv.fill(0, rowLen - headDim, rowLen - headDim + 32);
  const got = await runGpu(kernel, c, qkv);
  const ref = ropeKvRef(qkv, M, pos0, shape, { style: c.style ?? 'neox', factors: c.factors, angles: 'f32' });
  const row = kvRowWords(headDim, 'q8_0');
  const kDec = unpackKvCacheQ8(got.k, nKvHeads, maxCtx, headDim, pos0, M);
  const gotBytes = new Int8Array(got.v.buffer);
  const report: string[] = [];
  let bad = 0;
  const fail = (what: string) => {
    bad++;
    if (report.length < 6) report.push(what);
  };
  for (let m = 0; m < M; m++) {
    const raw = (h: number, d: number) => qkv[m * rowLen + h * headDim + d];
    const p = pos0 + m;
    for (let kh = 0; kh < nKvHeads; kh++) {
      const w0 = (kh * maxCtx + p) * row;
      for (let b = 0; b < headDim / 32; b++) {
        const scaleOf = (cache: Uint32Array) => (cache[w0 + headDim / 4 + (b >> 1)] >>> (16 * (b & 1))) & 0xffff;
        // V: bytes and scale exactly as quantize_row_q8_0_ref.
        const want = quantizeQ8Block(qkv, m * rowLen + (nHeads + nKvHeads + kh) * headDim + b * 32);
        if (scaleOf(got.v) !== want.d) fail(`v scale [kv=${kh}, pos=${p}, block ${b}] ${scaleOf(got.v).toString(16)} vs ${want.d.toString(16)}`);
        for (let j = 0; j < 32; j++) {
          if (gotBytes[4 * w0 + b * 32 + j] !== want.q[j]) fail(`v q[kv=${kh}, pos=${p}, d=${b * 32 + j}] ${gotBytes[4 * w0 + b * 32 + j]} vs ${want.q[j]}`);
        }
        // K: the values, within the bound above.
        const d16 = f16BitsToF32(scaleOf(got.k));
        let t = 0;
        for (let j = 0; j < 32; j++) t = Math.max(t, elementTolerance(c, raw, m, nHeads + kh, b * 32 + j, false) + 2 ** -22 * Math.abs(ref.k[(kh * M + m) * headDim + b * 32 + j]));
        for (let j = 0; j < 32; j++) {
          const d = b * 32 + j;
          const kr = ref.k[(kh * M + m) * headDim + d];
          const kg = kDec[(kh * M + m) * headDim + d];
          const tol = d16 / 2 + (127 * f16Ulp(d16)) / 2 + 2 * t;
          if (!(Math.abs(kg - kr) <= tol)) fail(`k[kv=${kh}, pos=${p}, d=${d}] ${kg} vs ${kr} (tol ${tol.toExponential(2)})`);
        }
      }
    }
  }
  expect(bad, `${bad} values wrong: ${report.join('; ')}`).toBe(0);
  let touched = 0;
  for (let kh = 0; kh < nKvHeads; kh++) {
    for (let p = 0; p < maxCtx; p++) {
      if (p >= pos0 && p < pos0 + M) continue;
      for (let w = 0; w < row; w++) if (got.k[(kh * maxCtx + p) * row + w] !== SENTINEL || got.v[(kh * maxCtx + p) * row + w] !== SENTINEL) touched++;
    }
  }
  expect(touched, 'cache words written outside the step').toBe(0);
}

describe('rope_kv with a q8_0 cache vs CPU reference', () => {
  const q8 = (style: RopeStyle = 'neox', wg = 64, heads = 8) => new RopeKvKernel(device, style, wg, heads, 'q8_0' satisfies KvType);

  it('Phi-3 shape (headDim 96: an odd block count), prefill chunk ending at the cache end', () => checkQ8(q8(), { shape: phi3(300), M: 13, pos0: 287, seed: 21 }));

  it('GQA at headDim 64 and 128, norm style, partial rotary, odd heads per workgroup', async () => {
    await checkQ8(q8('norm', 32, 3), { shape: { nHeads: 8, nKvHeads: 2, headDim: 64, ropeDim: 48, maxCtx: 900, base: 10000, attnFactor: 1 }, M: 7, pos0: 890, style: 'norm', seed: 22 });
    await checkQ8(q8('neox', 64, 1), { shape: { nHeads: 4, nKvHeads: 1, headDim: 128, ropeDim: 128, maxCtx: 50, base: 500000, attnFactor: 1 }, M: 1, pos0: 0, seed: 23 });
  });

  it('refuses a head size that is not a multiple of 32', () => {
    expect(() => q8().createParams({ ...phi3(16), headDim: 80, ropeDim: 80 })).toThrow(/multiple of 32/);
  });
});

describe('f32 angle drift (CPU only): the bound the tolerance above relies on', () => {
  it('|theta_f32 - theta_f64| <= (2i + 3) 2^-24 theta_i, and what it amounts to', () => {
    let worst4k = 0;
    let worst128k = 0;
    for (const pos of [1, 17, 999, 2047, 4095, 65535, 131071]) {
      const a32 = ropeAngles(pos, 10000, 96, { angles: 'f32' });
      const a64 = ropeAngles(pos, 10000, 96, { angles: 'f64' });
      for (let i = 0; i < 48; i++) {
        const err = Math.abs(a32[i] - a64[i]);
        expect(err).toBeLessThanOrEqual((2 * i + 3) * EPS * a64[i]);
        if (pos < 4096) worst4k = Math.max(worst4k, err);
        else worst128k = Math.max(worst128k, err);
      }
    }
    // Recorded for the design notes: ~1e-4 rad below 4k positions, ~5e-3 rad near 128k.
    expect(worst4k).toBeLessThan(1e-3);
    expect(worst128k).toBeLessThan(2e-2);
    expect(f32ToF16Bits(1)).toBe(0x3c00);
  });
});
