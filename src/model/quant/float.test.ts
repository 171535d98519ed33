import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.ts';
import { dequantizeBf16, dequantizeF16, dequantizeF32, quantizeBf16, quantizeF16, quantizeF32 } from './float.ts';

describe('F32', () => {
  it('decodes little-endian bytes, also from an unaligned view', () => {
    // 1.5 = 0x3FC00000, -2 = 0xC0000000
    const buf = new Uint8Array([9, 0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0]);
    expect(Array.from(dequantizeF32(buf.subarray(1), 2))).toEqual([1.5, -2]);
  });

  it('round-trips exactly', () => {
    const x = new Rng(8).fill(1000, -1e6, 1e6);
    expect(dequantizeF32(quantizeF32(x), x.length)).toEqual(x);
  });
});

describe('F16', () => {
  it('decodes known values', () => {
    const src = new Uint8Array([0x00, 0x3c, 0xff, 0x7b, 0x01, 0x00, 0x00, 0xfc, 0x00, 0x80]);
    expect(Array.from(dequantizeF16(src, 5))).toEqual([1, 65504, 2 ** -24, -Infinity, -0]);
  });

  it('round trip error <= 2^-11 |x| in the normal range, <= 2^-25 below it', () => {
    const r = new Rng(9);
    const x = new Float32Array(20000);
    for (let i = 0; i < x.length; i++) x[i] = r.normal() * 10 ** r.uniform(-9, 4.5);
    const q = quantizeF16(x);
    expect(q.length).toBe(2 * x.length);
    const y = dequantizeF16(q, x.length);
    for (let i = 0; i < x.length; i++) {
      const a = Math.abs(x[i]);
      const bound = a >= 2 ** -14 ? a * 2 ** -11 : 2 ** -25;
      if (a < 65504 && Math.abs(y[i] - x[i]) > bound) expect.fail(`${x[i]} -> ${y[i]}`);
    }
  });
});

describe('BF16', () => {
  it('decodes known values', () => {
    const src = new Uint8Array([0x80, 0x3f, 0x49, 0xc0, 0x80, 0x7f]);
    expect(Array.from(dequantizeBf16(src, 3))).toEqual([1, -3.140625, Infinity]);
  });

  it('round trip error <= 2^-8 |x| (8-bit significand, round to nearest)', () => {
    const r = new Rng(10);
    const x = new Float32Array(20000);
    for (let i = 0; i < x.length; i++) x[i] = r.normal() * 10 ** r.uniform(-30, 30);
    const y = dequantizeBf16(quantizeBf16(x), x.length);
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(y[i] - x[i]) > Math.abs(x[i]) * 2 ** -8) expect.fail(`${x[i]} -> ${y[i]}`);
    }
  });
});
