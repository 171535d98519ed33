import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16Table, f16ToF32, f32ToBf16, f32ToF16 } from './f16.ts';
import { f32Patterns } from './test-data.ts';

const bitsOf = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0];
const isNanF16 = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('f16ToF32', () => {
  it('decodes known values', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xbc00)).toBe(-1);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x3555)).toBe(1365 / 4096);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x0000), 0)).toBe(true);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0xfc01)).toBeNaN();
  });

  it('table equals the closed form (-1)^s * 2^(e-15) * (1 + m/1024), subnormals m * 2^-24', () => {
    const t = f16Table();
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 31;
      const m = h & 1023;
      if (e === 31) {
        if (m === 0) expect(t[h]).toBe(s * Infinity);
        else expect(t[h]).toBeNaN();
      } else {
        const v = e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
        if (t[h] !== v) expect.fail(`f16 0x${h.toString(16)}: ${t[h]} != ${v}`);
      }
    }
  });
});

describe('f32ToF16', () => {
  it('round-trips all 65536 bit patterns (NaNs stay NaN)', () => {
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      const back = f32ToF16(f16ToF32(h));
      if (isNanF16(h) ? !isNanF16(back) : back !== h) bad++;
    }
    expect(bad).toBe(0);
  });

  it('rounds to nearest, ties to even, at every scale', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie, 0x3c00 even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, 0x3c02 even
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16(1 - 2 ** -11)).toBe(0x3bff); // representable
    expect(f32ToF16(1 - 2 ** -12)).toBe(0x3c00); // tie with odd 0x3bff: carries into the exponent
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // tie with 65536: odd 0x7bff loses -> inf
    expect(f32ToF16(1e9)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24 -> even 0
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 -> 2
    expect(f32ToF16(2 ** -25 + 2 ** -40)).toBe(0x0001);
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // tie 0x3ff/0x400 -> even, the normal
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(-1e-30)).toBe(0x8000);
    expect(isNanF16(f32ToF16(NaN))).toBe(true);
  });

  it('rounds the input to f32 first, like the C function taking a float', () => {
    // 1 + 2^-11 + 2^-40 is above the f16 tie as a double, but is exactly the tie as an f32.
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c00);
  });

  it('agrees with a nearest-value search over the f16 table on 64k biased f32 patterns', () => {
    const t = f16Table();
    // positive finite f16 values in increasing order are bits 0x0000..0x7bff
    const xs = f32Patterns(7, 65536);
    let bad = 0;
    for (const x of xs) {
      const a = Math.abs(x);
      const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
      let want: number;
      if (a >= 65520) want = 0x7c00;
      else {
        let lo = 0;
        let hi = 0x7bff;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (t[mid] <= a) lo = mid;
          else hi = mid - 1;
        }
        // t[lo] <= a < t[lo+1] (t[0x7c00] = inf stands in above 65504)
        const up = lo + 1;
        const dl = a - t[lo];
        const du = (up === 0x7c00 ? 65536 : t[up]) - a;
        want = dl < du || (dl === du && (lo & 1) === 0) ? lo : up;
      }
      if (f32ToF16(x) !== (sign | want)) bad++;
    }
    expect(bad).toBe(0);
  });
});

describe('bf16', () => {
  it('bf16ToF32 is the top half of an f32', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc049)).toBe(-3.140625);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133); // f32 subnormal
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(bitsOf(bf16ToF32(0x1234))).toBe(0x12340000);
  });

  it('f32ToBf16 rounds to nearest even and keeps NaN quiet', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16(Math.PI)).toBe(0x4049);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(f32ToBf16(3.4028234663852886e38)).toBe(0x7f80); // FLT_MAX rounds up to inf
    const n = f32ToBf16(NaN);
    expect(n & 0x7fc0).toBe(0x7fc0);
  });

  it('round-trips all 65536 bf16 patterns (NaNs stay NaN)', () => {
    let bad = 0;
    for (let b = 0; b < 65536; b++) {
      const back = f32ToBf16(bf16ToF32(b));
      const nan = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
      if (nan ? !((back & 0x7f80) === 0x7f80 && (back & 0x7f) !== 0) : back !== b) bad++;
    }
    expect(bad).toBe(0);
  });
});
