import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.ts';
import { getScaleMinK4, putScaleMinK4 } from './kquant.ts';
import { dequantizeQ4_K, quantizeQ4_K } from './q4_k.ts';
import { MN, SC, SCALE_BYTES, checkKQuantRoundTrip, kBlockHead } from './test-kquant.ts';

/*
 * The sub-block scales/mins SC, MN and their bytes SCALE_BYTES (test-kquant.ts), 6-bit each:
 *   sc = [1, 2, 3, 63, 17, 33, 48, 63]
 *   m  = [0, 5, 63, 7, 18, 40, 1, 62]
 * Packing (get_scale_min_k4): j < 4 in the low 6 bits of bytes j / j+4; j >= 4 split into the
 * low nibble (scale) / high nibble (min) of byte j+4 and the top 2 bits of bytes j-4 / j.
 *   byte 0 = 1  | (17>>4)<<6 = 65      byte 4 = 0  | (18>>4)<<6 = 64     byte 8  = 1  | 2<<4  = 33
 *   byte 1 = 2  | (33>>4)<<6 = 130     byte 5 = 5  | (40>>4)<<6 = 133    byte 9  = 1  | 8<<4  = 129
 *   byte 2 = 3  | (48>>4)<<6 = 195     byte 6 = 63 | (1>>4)<<6  = 63     byte 10 = 0  | 1<<4  = 16
 *   byte 3 = 63 | (63>>4)<<6 = 255     byte 7 = 7  | (62>>4)<<6 = 199    byte 11 = 15 | 14<<4 = 239
 */

describe('get_scale_min_k4', () => {
  it('unpacks both branches (j < 4 and the split high-bit form j >= 4)', () => {
    const q = Uint8Array.from(SCALE_BYTES);
    for (let j = 0; j < 8; j++) {
      const sm = getScaleMinK4(j, q, 0);
      expect([sm & 0xff, sm >> 8]).toEqual([SC[j], MN[j]]);
    }
  });

  it('putScaleMinK4 packs to the same bytes', () => {
    const q = new Uint8Array(12);
    for (let j = 0; j < 8; j++) putScaleMinK4(j, SC[j], MN[j], q, 0);
    expect(Array.from(q)).toEqual(SCALE_BYTES);
  });
});

/** One Q4_K block: d, dmin bits, the scale bytes above, qs[i] = f(i). */
function q4kBlock(dBits: number, mBits: number, qs: (i: number) => number): Uint8Array {
  const b = kBlockHead(144, dBits, mBits);
  for (let i = 0; i < 128; i++) b[16 + i] = qs(i);
  return b;
}

describe('Q4_K dequantize', () => {
  it('decodes a block with d = 1, dmin = 0.5: y = sc*q - 0.5*m', () => {
    const qs = (i: number): number => (i % 16) | (((i * 7) % 16) << 4);
    const y = dequantizeQ4_K(q4kBlock(0x3c00, 0x3800, qs), 256);
    // element e: group g = e >> 6 uses qs[32g + (e & 31)], low nibble for the first 32, high after
    for (let e = 0; e < 256; e++) {
      const sub = e >> 5;
      const byte = qs(32 * (e >> 6) + (e & 31));
      const q = sub % 2 === 0 ? byte & 15 : byte >> 4;
      expect(y[e]).toBe(SC[sub] * q - 0.5 * MN[sub]);
    }
    // spot values written out: e=0 -> 1*0 - 0 = 0; e=37 (sub 1, byte 5 = 5 | 3<<4) -> 2*3 - 2.5
    expect(y[0]).toBe(0);
    expect(y[37]).toBe(3.5);
    // e=255: sub 7, byte qs[127] = 15 | (889 % 16 = 9) << 4 -> 63*9 - 31 = 536
    expect(y[255]).toBe(536);
  });

  it('rounds like C: (d*sc)*q and dmin*m exact, one f32 rounding at the subtraction', () => {
    // d = 0x2E66 ~ 0.0999, dmin = 0x2A66 ~ 0.04998: products are not representable in short decimals
    const d = 0.0999755859375; // (1024 + 614) * 2^-14
    const dmin = 0.04998779296875; // (1024 + 614) * 2^-15
    const qs = (i: number): number => (i * 37 + 11) & 0xff;
    const y = dequantizeQ4_K(q4kBlock(0x2e66, 0x2a66, qs), 256);
    for (let e = 0; e < 256; e++) {
      const sub = e >> 5;
      const byte = qs(32 * (e >> 6) + (e & 31));
      const q = sub % 2 === 0 ? byte & 15 : byte >> 4;
      const want = Math.fround(Math.fround(Math.fround(d * SC[sub]) * q) - Math.fround(dmin * MN[sub]));
      expect(y[e]).toBe(want);
    }
  });

  it('decodes several blocks in sequence', () => {
    const a = q4kBlock(0x3c00, 0x3800, () => 0x21);
    const b = q4kBlock(0x4000, 0x0000, () => 0xf0);
    const src = new Uint8Array(288);
    src.set(a, 0);
    src.set(b, 144);
    const y = dequantizeQ4_K(src, 512);
    expect(y[0]).toBe(1 * 1 - 0); // block 0, sub 0, q = 1
    expect(y[256]).toBe(0); // block 1, d = 2, sub 0, q = 0, dmin = 0
    expect(y[256 + 32]).toBe(2 * 2 * 15); // block 1, sub 1, q = 15
  });
});

describe('Q4_K quantize', () => {
  it('round trip: nearest level of the stored grid, and RMS within the stated bound', () => {
    checkKQuantRoundTrip({ kind: 'Q4_K', quantize: quantizeQ4_K, dequantize: dequantizeQ4_K, rng: new Rng(5), rmsBound: 0.09 });
  });
});
