import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.ts';
import { f16ToF32 } from './f16.ts';
import { dequantizeQ8_0, quantizeQ8_0 } from './q8_0.ts';

describe('Q8_0 dequantize', () => {
  it('decodes hand-built blocks: y = qs * d', () => {
    // block 0: d = 0x3555 = 1365/4096; block 1: d = 0xC000 = -2
    const src = new Uint8Array(68);
    src[0] = 0x55;
    src[1] = 0x35;
    const q0 = [-128, -127, -1, 0, 1, 2, 64, 127];
    for (let j = 0; j < 32; j++) src[2 + j] = q0[j % 8] & 0xff;
    src[34] = 0x00;
    src[35] = 0xc0;
    for (let j = 0; j < 32; j++) src[36 + j] = (j - 16) & 0xff;
    const y = dequantizeQ8_0(src, 64);
    for (let j = 0; j < 32; j++) expect(y[j]).toBe((q0[j % 8] * 1365) / 4096); // exact: 8+11 bits
    for (let j = 0; j < 32; j++) expect(y[32 + j]).toBe((j - 16) * -2);
    expect(y[0]).toBe(-42.65625);
  });

  it('writes into a caller-provided array and validates sizes', () => {
    const src = new Uint8Array(34);
    src[1] = 0x3c; // d = 1
    src[2] = 5;
    const out = new Float32Array(40).fill(9);
    expect(dequantizeQ8_0(src, 32, out)).toBe(out);
    expect(out[0]).toBe(5);
    expect(out[32]).toBe(9); // untouched past n
    expect(() => dequantizeQ8_0(src, 16)).toThrow(/multiple/);
    expect(() => dequantizeQ8_0(src, 64)).toThrow(/bytes/);
    expect(() => dequantizeQ8_0(src, 32, new Float32Array(8))).toThrow(/output/);
  });
});

describe('Q8_0 quantize', () => {
  /*
   * Bound, per block with amax = max|x|, d = amax/127 (f32), d16 = f16(d):
   * q = round(x * (1/d)) has |q - x/d| <= 1/2 + 127 * 2^-23 (x/d in [-127, 127], f32 rounding),
   * so |q*d16 - x| <= d * (1/2 + 2^-16) + 127 * |d16 - d| + |x| * 2^-24 (store rounding).
   * Since |d16 - d| <= d * 2^-11 this is <= amax/254 + amax * 2^-11 (+ tiny).
   */
  it('round trip stays within d/2 + 127|d16 - d| per element on random data', () => {
    const r = new Rng(1);
    const n = 32 * 4000;
    const x = new Float32Array(n);
    for (let b = 0; b < n / 32; b++) {
      const s = 10 ** r.uniform(-2, 3); // keeps d16 a normal f16
      for (let j = 0; j < 32; j++) x[b * 32 + j] = r.normal() * s;
    }
    const q = quantizeQ8_0(x);
    expect(q.length).toBe((n / 32) * 34);
    const y = dequantizeQ8_0(q, n);
    let worst = 0;
    for (let b = 0; b < n / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      const d = Math.fround(amax / 127);
      const d16 = f16ToF32(q[b * 34] | (q[b * 34 + 1] << 8));
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        const err = Math.abs(y[i] - x[i]);
        const bound = d * (0.5 + 2 ** -16) + 127 * Math.abs(d16 - d) + Math.abs(x[i]) * 2 ** -24;
        if (err > bound) expect.fail(`element ${i}: |${y[i]} - ${x[i]}| = ${err} > ${bound}`);
        const coarse = amax / 254 + amax * 2 ** -11 + Math.abs(x[i]) * 2 ** -24;
        if (err > coarse) expect.fail(`element ${i}: error ${err} > amax/254 + amax*2^-11 = ${coarse}`);
        worst = Math.max(worst, err / d);
      }
    }
    expect(worst).toBeGreaterThan(0.45); // the bound is tight, not vacuous
  });

  it('all-zero blocks encode d = 0 and decode to zeros', () => {
    const q = quantizeQ8_0(new Float32Array(32));
    expect(Array.from(q)).toEqual(new Array(34).fill(0));
  });

  it('maps the block maximum to +-127 exactly', () => {
    const x = new Float32Array(32);
    x[3] = -2.54; // d = 0.02
    x[7] = 1;
    const q = quantizeQ8_0(x);
    expect((q[2 + 3] << 24) >> 24).toBe(-127);
    expect(q[2 + 7]).toBe(50);
  });

  it('is stable: quantize(dequantize(quantize(x))) == quantize(x)', () => {
    const r = new Rng(2);
    const x = new Float32Array(32 * 500);
    for (let i = 0; i < x.length; i++) x[i] = r.normal() * (1 + (i >> 5));
    const q1 = quantizeQ8_0(x);
    const q2 = quantizeQ8_0(dequantizeQ8_0(q1, x.length));
    expect(q2).toEqual(q1);
  });
});
