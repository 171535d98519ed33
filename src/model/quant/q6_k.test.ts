import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.ts';
import { dequantizeQ6_K, quantizeQ6_K } from './q6_k.ts';
import { checkKQuantRoundTrip } from './test-kquant.ts';

/**
 * Independent Q6_K packer for the tests: element e (0..255) has 6-bit value q[e]; half h = e>>7,
 * r = e & 127, quarter k = r >> 5, l = r & 31. Low 4 bits go to ql[64h + l + 32(k&1)] (low nibble
 * for k < 2, high nibble for k >= 2); high 2 bits to qh[32h + l] bits 2k..2k+1.
 */
function q6kBlock(q: (e: number) => number, scales: number[], dBits: number): Uint8Array {
  const b = new Uint8Array(210);
  for (let e = 0; e < 256; e++) {
    const v = q(e);
    const h = e >> 7;
    const k = (e & 127) >> 5;
    const l = e & 31;
    b[64 * h + l + 32 * (k & 1)] |= (v & 15) << (k >= 2 ? 4 : 0);
    b[128 + 32 * h + l] |= (v >> 4) << (2 * k);
  }
  for (let s = 0; s < 16; s++) b[192 + s] = scales[s] & 0xff;
  b[208] = dBits & 0xff;
  b[209] = dBits >> 8;
  return b;
}

const SCALES = [-128, -1, 1, 127, -7, 5, -64, 3, 100, -100, 0, 2, -2, 64, -33, 17];

describe('Q6_K dequantize', () => {
  it('decodes a hand-packed block with negative scales: y = d * sc[e >> 4] * (q - 32)', () => {
    const q = (e: number): number => (e * 5 + 3) & 63;
    const y = dequantizeQ6_K(q6kBlock(q, SCALES, 0x3400), 256); // d = 0.25
    for (let e = 0; e < 256; e++) expect(y[e]).toBe(0.25 * SCALES[e >> 4] * (q(e) - 32));
    // spot values: e=0: q=3 -> 0.25 * -128 * -29 = 928; e=16: q=19 -> 0.25 * -1 * -13 = 3.25
    expect([y[0], y[16]]).toEqual([928, 3.25]);
  });

  it('decodes literal bytes', () => {
    const b = new Uint8Array(210);
    b[0] = 0x21; // ql[0]: low 1 -> e=0, high 2 -> e=64
    b[32] = 0x43; // ql[32]: low 3 -> e=32, high 4 -> e=96
    b[128] = 0b11100100; // qh[0]: e=0 +0, e=32 +16, e=64 +32, e=96 +48
    b[192] = 0xfd; // sc[0] = -3 (e 0..15)
    b[194] = 2; // sc[2] (e 32..47)
    b[196] = 0x80; // sc[4] = -128 (e 64..79)
    b[198] = 1; // sc[6] (e 96..111)
    b[209] = 0x3c; // d = 1
    const y = dequantizeQ6_K(b, 256);
    expect(y[0]).toBe(-3 * (1 - 32)); // 93
    expect(y[32]).toBe(2 * (3 + 16 - 32)); // -26
    expect(y[64]).toBe(-128 * (2 + 32 - 32)); // -256
    expect(y[96]).toBe(1 * (4 + 48 - 32)); // 20
    expect(y[1]).toBe(-3 * -32); // all-zero bits -> q - 32 = -32
    expect(y[128]).toBe(-0); // sc[8] = 0: (1 * 0) * -32 = -0
  });

  it('rounds like C: (d * sc) then * q, in f32', () => {
    const q = (e: number): number => (e * 11 + 7) & 63;
    const d = 0.0999755859375; // 0x2E66
    const y = dequantizeQ6_K(q6kBlock(q, SCALES, 0x2e66), 256);
    for (let e = 0; e < 256; e++) expect(y[e]).toBe(Math.fround(Math.fround(d * SCALES[e >> 4]) * (q(e) - 32)));
  });
});

describe('Q6_K quantize', () => {
  it('round trip: nearest level of the stored grid, and RMS within the stated bound', () => {
    // symmetric 6-bit over 16 elements: the extreme maps to -32, step ~ E[max|x| of 16] / 32
    // ~ 2.07 sigma / 32; noise ~ step / sqrt(12) = 0.019 -> bound 0.022
    checkKQuantRoundTrip({ kind: 'Q6_K', quantize: quantizeQ6_K, dequantize: dequantizeQ6_K, rng: new Rng(7), rmsBound: 0.022 });
  });

  it('encodes an all-zero block as all-zero bytes', () => {
    expect(quantizeQ6_K(new Float32Array(256))).toEqual(new Uint8Array(210));
  });
});
