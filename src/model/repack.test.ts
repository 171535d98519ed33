import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.ts';
import { GgmlType, QUANT_INFO, dequantize, quantize, rowBytes } from './quant/index.ts';
import { concatRepacked, repack, repackRows, repackedRowBytes, splitRows, unrepack } from './repack.ts';

const ALL_TYPES = Object.values(GgmlType);

/** Random bytes: repacking moves bytes and must not care what they mean. */
function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.u32() & 0xff;
  return out;
}

/** A k for the type: a few blocks, odd block counts included (where a type allows it). */
function someK(type: GgmlType, rng: Rng): number {
  const { blockSize } = QUANT_INFO[type]!;
  if (blockSize === 1) return 2 * rng.int(1, 40);
  return blockSize * rng.int(1, 5);
}

describe('repack / unrepack', () => {
  it.each(ALL_TYPES)('type %i: unrepack(repack(raw)) == raw, on random bytes and shapes', (type) => {
    const rng = new Rng(1000 + type);
    for (let t = 0; t < 6; t++) {
      const k = someK(type, rng);
      const rows = rng.int(1, 9);
      const raw = randomBytes(rows * rowBytes(type, k), 7 * t + type);
      const packed = repack(type, k, raw);
      expect(packed.rows).toBe(rows);
      const rb = repackedRowBytes(type, k);
      expect(packed.blocks.length).toBe(rows * rb.blocks);
      expect(packed.scales?.length ?? 0).toBe(rows * rb.scales);
      expect(rb.blocks % 4).toBe(0);
      expect(unrepack(packed)).toEqual(raw);
    }
  });

  it('the quant blocks become u32-aligned: 16-byte multiples per row for every quant type', () => {
    for (const type of [GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]) {
      const k = QUANT_INFO[type]!.blockSize;
      expect(repackedRowBytes(type, k).blocks % 16, `type ${type}`).toBe(0);
    }
    expect(repackedRowBytes(GgmlType.Q4_K, 256)).toEqual({ raw: 144, blocks: 144, scales: 0 });
    expect(repackedRowBytes(GgmlType.Q5_K, 256)).toEqual({ raw: 176, blocks: 176, scales: 0 });
    expect(repackedRowBytes(GgmlType.Q6_K, 512)).toEqual({ raw: 420, blocks: 416, scales: 4 });
    expect(repackedRowBytes(GgmlType.Q4_0, 96)).toEqual({ raw: 54, blocks: 48, scales: 8 }); // 3 blocks: row padded
    expect(repackedRowBytes(GgmlType.Q8_0, 64)).toEqual({ raw: 68, blocks: 64, scales: 4 });
  });

  it('layout, by hand: Q4_0 and Q8_0 drop the leading d, Q6_K the trailing d; d pairs fill u32s', () => {
    // Two Q4_0 blocks: d0 = 0x1234, d1 = 0xABCD, qs bytes 0..15 then 100..115.
    const raw = new Uint8Array(36);
    raw.set([0x34, 0x12], 0);
    raw.set(Array.from({ length: 16 }, (_, i) => i), 2);
    raw.set([0xcd, 0xab], 18);
    raw.set(Array.from({ length: 16 }, (_, i) => 100 + i), 20);
    const q40 = repack(GgmlType.Q4_0, 64, raw);
    expect([...q40.blocks]).toEqual([...Array.from({ length: 16 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => 100 + i)]);
    expect(new Uint32Array(q40.scales!.buffer)[0]).toBe(0xabcd1234);

    const q6 = randomBytes(210, 5);
    const p6 = repack(GgmlType.Q6_K, 256, q6);
    expect(p6.blocks).toEqual(q6.subarray(0, 208));
    expect([...p6.scales!]).toEqual([q6[208], q6[209], 0, 0]); // one block: padded to 4 bytes

    const q8 = randomBytes(34, 6);
    const p8 = repack(GgmlType.Q8_0, 32, q8);
    expect(p8.blocks).toEqual(q8.subarray(2));
    expect([...p8.scales!]).toEqual([q8[0], q8[1], 0, 0]);

    const q4k = randomBytes(2 * 144, 7);
    const p4k = repack(GgmlType.Q4_K, 256, q4k);
    expect(p4k.blocks).toEqual(q4k);
    expect(p4k.scales).toBeUndefined();
  });

  it('the repacked weights decode to the same numbers (quantize -> repack -> unrepack -> dequantize)', () => {
    const rng = new Rng(77);
    for (const type of ALL_TYPES) {
      const k = QUANT_INFO[type]!.blockSize === 1 ? 64 : 512;
      const x = rng.fill(3 * k);
      const raw = quantize(type, x);
      const back = unrepack(repack(type, k, raw));
      expect(dequantize(type, back, 3 * k)).toEqual(dequantize(type, raw, 3 * k));
    }
  });

  it('row ranges are self-contained: pieces repacked alone concatenate to the whole', () => {
    const rng = new Rng(3);
    for (const type of ALL_TYPES) {
      // An odd block count per row makes the scale rows padded: the case a global packing would break.
      const k = QUANT_INFO[type]!.blockSize === 1 ? 6 : 3 * QUANT_INFO[type]!.blockSize;
      const rows = 11;
      const raw = randomBytes(rows * rowBytes(type, k), 30 + type);
      const whole = repack(type, k, raw);
      const cuts = [0, rng.int(1, 3), rng.int(4, 6), 7, rows];
      const parts = cuts.slice(1).map((end, i) => repackRows(type, k, raw, cuts[i], end - cuts[i]));
      expect(concatRepacked(parts), `type ${type}`).toEqual(whole);
    }
  });

  it('copy: false gives the same bytes, and hands back the input itself only for types stored as they are', () => {
    for (const type of ALL_TYPES) {
      const k = QUANT_INFO[type]!.blockSize === 1 ? 8 : QUANT_INFO[type]!.blockSize;
      const raw = randomBytes(4 * rowBytes(type, k), 80 + type);
      const copied = repackRows(type, k, raw, 1, 2);
      const shared = repackRows(type, k, raw, 1, 2, { copy: false });
      expect(shared, `type ${type}`).toEqual(copied);
      expect(copied.blocks.buffer, `type ${type}`).not.toBe(raw.buffer);
      // split types build new arrays either way; the others may alias rows 1..2 of raw
      expect(shared.blocks.buffer === raw.buffer, `type ${type}`).toBe(shared.scales === undefined);
    }
    const one = repack(GgmlType.Q4_K, 256, randomBytes(144, 99));
    expect(concatRepacked([one])).toBe(one);
  });

  it('rejects bad shapes with a clear error', () => {
    expect(() => repack(GgmlType.Q4_K, 100, new Uint8Array(144))).toThrow(/multiple of the block size 256/);
    expect(() => repack(GgmlType.F16, 3, new Uint8Array(6))).toThrow(/even length/);
    expect(() => repack(GgmlType.Q4_0, 32, new Uint8Array(20))).toThrow(/not a whole number of Q4_0 \(2\) rows/);
    expect(() => repack(3, 32, new Uint8Array(20))).toThrow(/unsupported GGML type Q4_1 \(3\)/);
    expect(() => repackRows(GgmlType.Q8_0, 32, new Uint8Array(68), 1, 2)).toThrow(/outside 2 rows/);
  });
});

describe('splitRows', () => {
  it('covers every row once, each part within the limit, as few and as even parts as possible', () => {
    // Phi-3's output.weight in Q6_K: 32064 x 3072, 78.8 MB; at a 32 MiB limit -> 3 parts.
    const parts = splitRows(GgmlType.Q6_K, 32064, 3072, 32 << 20);
    expect(parts.length).toBe(3);
    let next = 0;
    for (const p of parts) {
      expect(p.rowStart).toBe(next);
      expect(p.rowCount * repackedRowBytes(GgmlType.Q6_K, 3072).blocks).toBeLessThanOrEqual(32 << 20);
      next += p.rowCount;
    }
    expect(next).toBe(32064);
    expect(Math.max(...parts.map((p) => p.rowCount)) - Math.min(...parts.map((p) => p.rowCount))).toBeLessThanOrEqual(1);
    expect(splitRows(GgmlType.Q4_K, 16384, 3072, 128 << 20)).toEqual([{ rowStart: 0, rowCount: 16384 }]);
    expect(() => splitRows(GgmlType.F32, 4, 1024, 1000)).toThrow(/exceeds 1000 B/);
  });
});
