import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.ts';
import { f16ToF32 } from './f16.ts';
import { dequantizeQ4_0, quantizeQ4_0 } from './q4_0.ts';

describe('Q4_0 dequantize', () => {
  it('decodes hand-built blocks: low nibbles -> y[0..16), high nibbles -> y[16..32), minus 8', () => {
    const src = new Uint8Array(3 * 18);
    // block 0: d = 0x3800 = 0.5, qs[j] = j | (15 - j) << 4
    src[1] = 0x38;
    for (let j = 0; j < 16; j++) src[2 + j] = j | ((15 - j) << 4);
    // block 1: d = 0xC000 = -2, qs = 0x80 (low 0, high 8)
    src[19] = 0xc0;
    for (let j = 0; j < 16; j++) src[20 + j] = 0x80;
    // block 2: d = 0x0001 = 2^-24 (subnormal), qs = 0xF0 (low 0, high 15)
    src[36] = 0x01;
    for (let j = 0; j < 16; j++) src[38 + j] = 0xf0;
    const y = dequantizeQ4_0(src, 96);
    for (let j = 0; j < 16; j++) {
      expect(y[j]).toBe((j - 8) * 0.5);
      expect(y[16 + j]).toBe((7 - j) * 0.5);
      expect(y[32 + j]).toBe(16); // (0 - 8) * -2
      expect(Object.is(y[48 + j], -0)).toBe(true); // (8 - 8) * -2 = -0 in IEEE
      expect(y[64 + j]).toBe(-8 * 2 ** -24);
      expect(y[80 + j]).toBe(7 * 2 ** -24);
    }
  });
});

describe('Q4_0 quantize', () => {
  /*
   * Bound. The element of largest magnitude, max (signed), sets d = max / -8, so t = x/d lies in
   * [-8, 8] and max itself gets t = -8 (level 0). The level is l = min(15, trunc(t + 8.5)) - 8:
   *   t in [-8, 7.5): l = round-half-up(t), |l - t| <= 1/2;
   *   t in [7.5, 8]:  clamped to l = 7, |l - t| <= 1. These are the elements of sign opposite
   *                   to max with |x| >= 15/16 amax (level +8 does not exist).
   * With f16 d16: |l*d16 - x| <= |d| * (1/2 or 1) + 8 |d16 - d| + f32 rounding; |d| = amax/8,
   * so the error is <= amax/16 (+ amax * 2^-11), or amax/8 (+ ...) in the clamped case.
   */
  it('round trip stays within the derived bound per element', () => {
    const r = new Rng(3);
    const n = 32 * 4000;
    const x = new Float32Array(n);
    for (let b = 0; b < n / 32; b++) {
      const s = 10 ** r.uniform(-2, 3);
      for (let j = 0; j < 32; j++) x[b * 32 + j] = (b % 3 === 0 ? r.uniform(-1, 1) : r.normal()) * s;
    }
    const q = quantizeQ4_0(x);
    expect(q.length).toBe((n / 32) * 18);
    const y = dequantizeQ4_0(q, n);
    let clamped = 0;
    for (let b = 0; b < n / 32; b++) {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[b * 32 + j];
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = Math.fround(max / -8);
      const d16 = f16ToF32(q[b * 18] | (q[b * 18 + 1] << 8));
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        const t = x[i] / d;
        const half = t < 7.5 - 1e-4 ? 0.5 : 1;
        if (half === 1) clamped++;
        const bound = Math.abs(d) * (half + 2 ** -16) + 8 * Math.abs(d16 - d) + Math.abs(x[i]) * 2 ** -24;
        const err = Math.abs(y[i] - x[i]);
        if (err > bound) expect.fail(`element ${i} (t=${t}): error ${err} > ${bound}`);
        const coarse = amax * (half / 8 + 2 ** -11) + Math.abs(x[i]) * 2 ** -24;
        if (err > coarse) expect.fail(`element ${i}: error ${err} > amax * (${half}/8 + 2^-11) = ${coarse}`);
      }
    }
    expect(clamped).toBeGreaterThan(0); // the clamped case is exercised
  });

  it('puts the extreme at level 0 (value -8d) and clamps its opposite to level 15', () => {
    const x = new Float32Array(32);
    x[0] = 4; // max: d = -0.5
    x[1] = -4; // t = 8 -> clamped to 15 -> 7 * -0.5 = -3.5
    x[2] = 1; // t = -2 -> level 6
    const q = quantizeQ4_0(x);
    expect(f16ToF32(q[0] | (q[1] << 8))).toBe(-0.5);
    expect(q[2] & 0xf).toBe(0);
    expect(q[3] & 0xf).toBe(15);
    expect(q[4] & 0xf).toBe(6);
    expect(q[5] & 0xf).toBe(8); // zero
    const y = dequantizeQ4_0(q, 32);
    expect(Array.from(y.subarray(0, 4))).toEqual([4, -3.5, 1, -0]);
  });

  it('all-zero blocks encode d = -0 (0 / -8, as in C) with every level at 8', () => {
    const q = quantizeQ4_0(new Float32Array(32));
    expect(q[0] | (q[1] << 8)).toBe(0x8000);
    for (let j = 0; j < 16; j++) expect(q[2 + j]).toBe(0x88);
  });

  it('is stable: quantize(dequantize(quantize(x))) == quantize(x)', () => {
    const r = new Rng(4);
    const x = new Float32Array(32 * 500);
    for (let i = 0; i < x.length; i++) x[i] = r.normal() * (1 + (i >> 5));
    const q1 = quantizeQ4_0(x);
    const q2 = quantizeQ4_0(dequantizeQ4_0(q1, x.length));
    expect(q2).toEqual(q1);
  });
});
