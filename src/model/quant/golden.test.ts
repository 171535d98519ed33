/**
 * Byte-for-byte agreement with llama.cpp (outputs recorded in test-golden.ts from the real library).
 */
import { describe, expect, it } from 'vitest';
import { f16Table, f32ToBf16, f32ToF16 } from './f16.ts';
import {
  GOLDEN_DEQUANT, GOLDEN_F16_TABLE, GOLDEN_F32_TO_BF16, GOLDEN_F32_TO_F16, GOLDEN_MIXED_BLOCKS, GOLDEN_MIXED_SEED, GOLDEN_QUANT,
} from './test-golden.ts';
import { GgmlType, QUANT_INFO, dequantize, quantize } from './index.ts';
import { F16_FIELDS, f32Patterns, fnv1a, mixedData, randomBlocks, toHex } from './test-data.ts';

const TYPES = ['Q4_0', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'] as const;

describe('llama.cpp golden outputs', () => {
  const x = mixedData(GOLDEN_MIXED_SEED, GOLDEN_MIXED_BLOCKS);

  for (const name of TYPES) {
    const type = GgmlType[name];
    it(`${name}: quantize_row_${name.toLowerCase()}_ref bytes`, () => {
      const got = toHex(quantize(type, x));
      const want = GOLDEN_QUANT[name];
      if (got !== want) {
        let i = 0;
        while (got[i] === want[i]) i++;
        const typeSize = QUANT_INFO[type]!.typeSize;
        expect.fail(`${name}: first differing byte ${i >> 1} (block ${Math.floor((i >> 1) / typeSize)})`);
      }
    });

    it(`${name}: dequantize_row_${name.toLowerCase()} output bits`, () => {
      const [nBlocks, hash] = GOLDEN_DEQUANT[name];
      const info = QUANT_INFO[type]!;
      const src = randomBlocks(1000 + type, nBlocks, info.typeSize, F16_FIELDS[type]);
      expect(fnv1a(dequantize(type, src, nBlocks * info.blockSize))).toBe(hash);
    });
  }

  it('ggml_fp16_to_fp32 for all 65536 patterns (NaN payloads included)', () => {
    expect(fnv1a(f16Table())).toBe(GOLDEN_F16_TABLE);
  });

  it('ggml_fp32_to_fp16 and ggml_fp32_to_bf16 on 64k biased patterns', () => {
    const xs = f32Patterns(99, 65536);
    expect(fnv1a(Uint16Array.from(xs, f32ToF16))).toBe(GOLDEN_F32_TO_F16);
    expect(fnv1a(Uint16Array.from(xs, f32ToBf16))).toBe(GOLDEN_F32_TO_BF16);
  });
});
