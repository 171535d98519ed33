import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.ts';
import { dequantizeQ5_K, quantizeQ5_K } from './q5_k.ts';
import { MN, SC, checkKQuantRoundTrip, kBlockHead } from './test-kquant.ts';

/** Q5_K block: d, dmin bits at 0/2, the shared scales (SC, MN) at 4, qh[32] at 16, qs[128] at 48. */
function q5kBlock(dBits: number, mBits: number, qh: (l: number) => number, qs: (i: number) => number): Uint8Array {
  const b = kBlockHead(176, dBits, mBits);
  for (let l = 0; l < 32; l++) b[16 + l] = qh(l);
  for (let i = 0; i < 128; i++) b[48 + i] = qs(i);
  return b;
}

describe('Q5_K dequantize', () => {
  it('adds 16 when the qh bit of the sub-block is set (bit 2g low nibble, 2g+1 high nibble)', () => {
    // All nibbles 0xF; qh[l] = 0b01010101 for even l (low-nibble sub-blocks get +16), 0 for odd l.
    const y = dequantizeQ5_K(q5kBlock(0x3c00, 0x3800, (l) => (l % 2 === 0 ? 0x55 : 0), () => 0xff), 256);
    for (let e = 0; e < 256; e++) {
      const sub = e >> 5;
      const l = e & 31;
      const hi = sub % 2 === 0 && l % 2 === 0 ? 16 : 0;
      expect(y[e]).toBe(SC[sub] * (15 + hi) - 0.5 * MN[sub]);
    }
    // spot values: e=0: 1*31 - 0 = 31; e=1 (odd l, no high bit): 1*15 = 15; e=32 (sub 1, high nibble): 2*15 - 2.5
    expect([y[0], y[1], y[32]]).toEqual([31, 15, 27.5]);
  });

  it('decodes an arbitrary block: q = nibble + 16 * bit(qh[l], sub)', () => {
    const qh = (l: number): number => (l * 73 + 29) & 0xff;
    const qs = (i: number): number => (i * 37 + 11) & 0xff;
    const d = 0.0999755859375; // 0x2E66
    const dmin = 0.04998779296875; // 0x2A66
    const y = dequantizeQ5_K(q5kBlock(0x2e66, 0x2a66, qh, qs), 256);
    for (let e = 0; e < 256; e++) {
      const sub = e >> 5; // qh bit index == sub-block index
      const l = e & 31;
      const byte = qs(32 * (e >> 6) + l);
      const q = (sub % 2 === 0 ? byte & 15 : byte >> 4) + ((qh(l) >> sub) & 1) * 16;
      const want = Math.fround(Math.fround(Math.fround(d * SC[sub]) * q) - Math.fround(dmin * MN[sub]));
      expect(y[e]).toBe(want);
    }
  });
});

describe('Q5_K quantize', () => {
  it('round trip: nearest level of the stored grid, and RMS within the stated bound', () => {
    // 5-bit: 4.12 sigma expected range of 32 gaussians / 31 steps / sqrt(12) = 0.038 -> bound 0.045
    checkKQuantRoundTrip({ kind: 'Q5_K', quantize: quantizeQ5_K, dequantize: dequantizeQ5_K, rng: new Rng(6), rmsBound: 0.045 });
  });
});
