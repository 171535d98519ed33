import { describe, expect, it } from 'vitest';
import { GgmlType, QUANT_INFO, dequantize, isSupportedType, quantInfo, quantize, rowBytes, typeName } from './index.ts';
import { F16_FIELDS, mixedData, randomBlocks } from './test-data.ts';

const ALL = Object.values(GgmlType);

describe('QUANT_INFO / rowBytes', () => {
  it('has the ggml block sizes and bytes per block (PHI3.md 3.4)', () => {
    const table = Object.fromEntries(ALL.map((t) => [t, [QUANT_INFO[t]!.name, QUANT_INFO[t]!.blockSize, QUANT_INFO[t]!.typeSize]]));
    expect(table).toEqual({
      0: ['F32', 1, 4],
      1: ['F16', 1, 2],
      2: ['Q4_0', 32, 18],
      8: ['Q8_0', 32, 34],
      12: ['Q4_K', 256, 144],
      13: ['Q5_K', 256, 176],
      14: ['Q6_K', 256, 210],
      30: ['BF16', 1, 2],
    });
    expect(QUANT_INFO[3]).toBeUndefined();
  });

  it('computes row sizes (Phi-3 rows of 3072 and 8192)', () => {
    expect(rowBytes(GgmlType.Q4_K, 3072)).toBe(12 * 144);
    expect(rowBytes(GgmlType.Q6_K, 8192)).toBe(32 * 210);
    expect(rowBytes(GgmlType.Q4_0, 3072)).toBe(96 * 18);
    expect(rowBytes(GgmlType.F16, 3072)).toBe(6144);
    expect(rowBytes(GgmlType.BF16, 7)).toBe(14);
    expect(rowBytes(GgmlType.F32, 3)).toBe(12);
    expect(() => rowBytes(GgmlType.Q4_K, 100)).toThrow(/multiple of the block size 256/);
  });

  it('rejects unsupported types, naming them', () => {
    expect(isSupportedType(12)).toBe(true);
    expect(isSupportedType(3)).toBe(false);
    expect(typeName(12)).toBe('Q4_K (12)');
    expect(() => rowBytes(3, 32)).toThrow('unsupported GGML type Q4_1 (3)');
    expect(() => quantInfo(10)).toThrow('unsupported GGML type Q2_K (10)');
    expect(quantInfo(14)).toEqual({ name: 'Q6_K', blockSize: 256, typeSize: 210 });
    expect(() => dequantize(11, new Uint8Array(110), 256)).toThrow('unsupported GGML type Q3_K (11)');
    expect(() => quantize(20, new Float32Array(32))).toThrow('unsupported GGML type IQ4_NL (20)');
    expect(() => quantize(99, new Float32Array(32))).toThrow('unsupported GGML type unknown (99)');
  });
});

describe('dispatch', () => {
  it('dequantize(quantize(x)) has the right size for every type and writes into `out`', () => {
    const x = mixedData(11, 2);
    for (const t of ALL) {
      const q = quantize(t, x);
      expect(q.length).toBe(rowBytes(t, x.length));
      const out = new Float32Array(x.length + 5);
      const y = dequantize(t, q, x.length, out);
      expect(y).toBe(out);
      expect(y.subarray(0, x.length).every(Number.isFinite)).toBe(true);
    }
  });

  it('is deterministic: quantizing the same input twice gives identical bytes', () => {
    const x = mixedData(12, 8);
    for (const t of ALL) expect(quantize(t, x.slice())).toEqual(quantize(t, x));
  });

  it('rejects lengths that are not whole blocks', () => {
    expect(() => quantize(GgmlType.Q4_K, new Float32Array(300))).toThrow(/multiple/);
    expect(() => dequantize(GgmlType.Q8_0, new Uint8Array(34), 33)).toThrow(/multiple/);
  });
});

describe('speed', () => {
  it('dequantizes 4M Q4_K elements (prints the time; first call includes JIT warm-up)', () => {
    const n = 4 * 1024 * 1024;
    const src = randomBlocks(13, n / 256, 144, F16_FIELDS[GgmlType.Q4_K]);
    const out = new Float32Array(n);
    const times: string[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      dequantize(GgmlType.Q4_K, src, n, out);
      times.push(`${(performance.now() - t0).toFixed(1)} ms`);
    }
    console.log(`Q4_K dequantize of ${n} elements: ${times.join(', ')}`);
    expect(out.every(Number.isFinite)).toBe(true);
  });
});
