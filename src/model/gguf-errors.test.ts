/**
 * Every validation of the GGUF reader, provoked by a hand-made file. Each case checks the error
 * class, the field it names and the byte offset, so a check that moves or disappears fails here.
 */
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../common/errors.ts';
import { GGMLType, GGUFValueType as T, GGUF_MAGIC, parseGGUF } from './gguf.ts';
import { ByteWriter, GGUFWriter, writeGGUFToBuffer } from './gguf-write.ts';

async function expectFormatError(bytes: Uint8Array, field: string, offset: number, problem?: RegExp): Promise<ModelFormatError> {
  const e = await parseGGUF(bytes).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a ModelFormatError').toBeInstanceOf(ModelFormatError);
  const err = e as ModelFormatError;
  expect(err.name).toBe('ModelFormatError');
  expect(err.field).toBe(field);
  expect(err.offset).toBe(offset);
  expect(err.message).toContain(`${field}:`);
  expect(err.message).toContain(`at offset ${offset}`);
  if (problem) expect(err.message).toMatch(problem);
  return err;
}

/** Header with raw counts; returns the writer positioned after it (offset 24). */
function header(nTensors: number | bigint, nKv: number | bigint, version = 3): ByteWriter {
  return new ByteWriter().u32(GGUF_MAGIC).u32(version).i64(nTensors).i64(nKv);
}

/** A file with one KV written by `kv` (the writer is at offset 24 when it is called). */
function oneKV(kv: (w: ByteWriter) => void, padTo = 64): Uint8Array {
  const w = header(0, 1);
  kv(w);
  w.zeros(Math.max(0, padTo - w.length));
  return w.toBytes();
}

/** One tensor info written raw after an empty metadata section; then `data` bytes after padding. */
function oneTensor(info: (w: ByteWriter) => void, data = 64): { bytes: Uint8Array; infoAt: number } {
  const w = header(1, 0);
  const infoAt = w.length;
  info(w);
  w.zeros(Math.ceil(w.length / 32) * 32 - w.length + data);
  return { bytes: w.toBytes(), infoAt };
}

describe('GGUF header', () => {
  it('rejects a bad magic', async () => {
    const b = new ByteWriter().bytes(new TextEncoder().encode('GGML')).zeros(60).toBytes();
    await expectFormatError(b, 'magic', 0, /bad magic 0x4c4d4747 \("GGML"\)/);
  });

  it('rejects versions other than 2 and 3, explaining big-endian files', async () => {
    await expectFormatError(header(0, 0, 1).zeros(32).toBytes(), 'version', 4, /unsupported version 1.*v1 is obsolete/);
    await expectFormatError(header(0, 0, 4).zeros(32).toBytes(), 'version', 4, /unsupported version 4/);
    await expectFormatError(header(0, 0, 0x03000000).zeros(32).toBytes(), 'version', 4, /big-endian/);
    // v2 has the same layout and is accepted.
    expect((await parseGGUF(header(0, 0, 2).toBytes())).version).toBe(2);
  });

  it('rejects a file that ends inside the header', async () => {
    await expectFormatError(header(0, 0).toBytes().subarray(0, 20), 'n_kv', 16, /truncated file: needs 8 bytes, only 4 left/);
    await expectFormatError(new Uint8Array(2), 'magic', 0, /truncated/);
  });

  it('rejects n_tensors and n_kv that cannot fit in the file, before allocating', async () => {
    await expectFormatError(header(0xffffffff, 0).zeros(100).toBytes(), 'n_tensors', 8, /count 4294967295 needs at least/);
    await expectFormatError(header(2n ** 63n - 1n, 0).zeros(100).toBytes(), 'n_tensors', 8);
    await expectFormatError(header(-1, 0).zeros(100).toBytes(), 'n_tensors', 8, /negative count -1/);
    await expectFormatError(header(0, 2n ** 62n).zeros(100).toBytes(), 'n_kv', 16);
    await expectFormatError(header(0, -(2n ** 63n)).zeros(100).toBytes(), 'n_kv', 16, /negative/);
    // 100 bytes after the header: 3 tensor infos (>= 96 bytes) leave no room for one KV (>= 13).
    await expectFormatError(header(3, 1).zeros(100).toBytes(), 'n_kv', 16, /only 4 remain/);
  });
});

describe('GGUF metadata', () => {
  it('rejects string lengths past the end of the file', async () => {
    await expectFormatError(oneKV((w) => w.u64(2n ** 40n)), 'kv 0 key', 24, /string length 1099511627776 needs/);
    await expectFormatError(oneKV((w) => w.u64(2n ** 64n - 1n)), 'kv 0 key', 24);
    const b = oneKV((w) => w.str('k').u32(T.STRING).u64(1000));
    await expectFormatError(b, 'kv 0 "k" value', 24 + 9 + 4, /string length 1000 needs at least 1000 bytes but only \d+ remain/);
  });

  it('rejects array counts that cannot fit, at 4 bytes per u32 and 8 per string', async () => {
    // 64-byte file: after the count field (at 24+9+4+4=41) 15 bytes remain.
    const at = 24 + 9 + 4 + 4;
    await expectFormatError(oneKV((w) => w.str('a').u32(T.ARRAY).u32(T.UINT32).u64(4)), 'kv 0 "a" array count', at, /u32\[\] count 4 needs at least 16 bytes but only 15 remain/);
    expect((await parseGGUF(oneKV((w) => w.str('a').u32(T.ARRAY).u32(T.UINT32).u64(3)))).metadata.get('a')).toEqual(new Uint32Array(3));
    await expectFormatError(oneKV((w) => w.str('a').u32(T.ARRAY).u32(T.STRING).u64(2)), 'kv 0 "a" array count', at, /string\[\] count 2 needs at least 16/);
    await expectFormatError(oneKV((w) => w.str('a').u32(T.ARRAY).u32(T.UINT64).u64(2n ** 61n)), 'kv 0 "a" array count', at);
  });

  it('rejects unknown value types and nested arrays', async () => {
    await expectFormatError(oneKV((w) => w.str('k').u32(13)), 'kv 0 "k" type', 24 + 9, /unknown value type 13/);
    await expectFormatError(oneKV((w) => w.str('k').u32(0xffffffff)), 'kv 0 "k" type', 24 + 9, /unknown value type 4294967295/);
    await expectFormatError(oneKV((w) => w.str('k').u32(T.ARRAY).u32(T.ARRAY)), 'kv 0 "k" array type', 24 + 9 + 4, /nested arrays/);
    await expectFormatError(oneKV((w) => w.str('k').u32(T.ARRAY).u32(77)), 'kv 0 "k" array type', 24 + 9 + 4, /unknown value type 77/);
  });

  it('rejects duplicate keys', async () => {
    const w = header(0, 2).str('k').u32(T.UINT8).u8(1);
    const at = w.length;
    w.str('k').u32(T.UINT8).u8(2);
    await expectFormatError(w.toBytes(), 'kv 1 key', at, /duplicate key "k"/);
  });

  it('rejects invalid UTF-8 in keys, values and string arrays', async () => {
    const bad = Uint8Array.from([0x61, 0xff, 0x62]);
    await expectFormatError(oneKV((w) => w.u64(3).bytes(bad)), 'kv 0 key', 32, /not valid UTF-8/);
    await expectFormatError(oneKV((w) => w.str('k').u32(T.STRING).u64(2).bytes(Uint8Array.from([0xc3, 0x28]))), 'kv 0 "k" value', 24 + 9 + 4 + 8);
    // Lone surrogate encoded as UTF-8 (CESU) is invalid too.
    const at = 24 + 9 + 4 + 4 + 8 + 10; // element 1's length field, after "ok" (8 + 2 bytes)
    await expectFormatError(
      oneKV((w) => w.str('k').u32(T.ARRAY).u32(T.STRING).u64(2).str('ok').u64(3).bytes(Uint8Array.from([0xed, 0xa0, 0x80]))),
      'kv 0 "k" [1]', at + 8, /not valid UTF-8/,
    );
  });

  it('requires general.alignment to be a u32 power of two', async () => {
    const w = new GGUFWriter();
    w.addKV('general.alignment', T.UINT32, 48);
    const at = 24 + 8 + 'general.alignment'.length + 4;
    await expectFormatError(w.headerBytes(), 'general.alignment', at, /alignment 48 is not a power of two/);
    const w0 = new GGUFWriter();
    w0.addKV('general.alignment', T.UINT32, 0);
    await expectFormatError(w0.headerBytes(), 'general.alignment', at, /alignment 0/);
    const w2 = new GGUFWriter();
    w2.addKV('general.alignment', T.INT32, 64);
    await expectFormatError(w2.headerBytes(), 'general.alignment', at, /type i32.*must be u32/);
  });
});

describe('GGUF tensor infos', () => {
  const name = (w: ByteWriter) => w.str('t');
  // Offsets inside the info for a tensor named "t": name 9 bytes, n_dims at +9, ne from +13.
  const base = 'tensor info 0 "t"';

  it('rejects more than 4 dimensions', async () => {
    const { bytes, infoAt } = oneTensor((w) => name(w).u32(5).u64(1).u64(1).u64(1).u64(1).u64(1).u32(0).u64(0));
    const e = await expectFormatError(bytes, `${base} dims`, infoAt + 9, /5 dimensions/);
    expect(e.message).toBe(`GGUF: ${base} dims: 5 dimensions at offset ${infoAt + 9} (at most 4)`);
  });

  it('rejects zero and negative dimensions', async () => {
    const z = oneTensor((w) => name(w).u32(2).u64(4).u64(0).u32(GGMLType.F32).u64(0));
    await expectFormatError(z.bytes, `${base} dims`, z.infoAt + 13 + 8, /ne\[1\] = 0/);
    const n = oneTensor((w) => name(w).u32(1).i64(-4).u32(GGMLType.F32).u64(0));
    await expectFormatError(n.bytes, `${base} dims`, n.infoAt + 13, /ne\[0\] = -4/);
    const big = oneTensor((w) => name(w).u32(1).u64(2n ** 63n).u32(GGMLType.F32).u64(0));
    await expectFormatError(big.bytes, `${base} dims`, big.infoAt + 13, /ne\[0\] = -9223372036854775808/);
  });

  it('rejects element counts beyond 2^53', async () => {
    const { bytes, infoAt } = oneTensor((w) => name(w).u32(3).u64(2 ** 31).u64(2 ** 21).u64(4).u32(GGMLType.F32).u64(0));
    await expectFormatError(bytes, `${base} dims`, infoAt + 13 + 16, /element count overflows 2\^53 at ne\[2\] = 4/);
  });

  it('rejects unknown and unsupported tensor types by name', async () => {
    const typeAt = (infoAt: number) => infoAt + 9 + 4 + 8;
    for (const [id, re] of [
      [3, /unsupported quant type Q4_1/],
      [6, /unsupported quant type Q5_0/],
      [11, /unsupported quant type Q3_K/],
      [16, /unsupported quant type IQ2_XXS/],
      [99, /unknown tensor type 99/],
    ] as const) {
      const { bytes, infoAt } = oneTensor((w) => name(w).u32(1).u64(256).u32(id).u64(0), 1024);
      await expectFormatError(bytes, `${base} type`, typeAt(infoAt), re);
    }
  });

  it('rejects ne[0] that is not a multiple of the block size', async () => {
    const { bytes, infoAt } = oneTensor((w) => name(w).u32(2).u64(100).u64(2).u32(GGMLType.Q4_K).u64(0), 1024);
    await expectFormatError(bytes, `${base} dims`, infoAt + 9 + 4, /ne\[0\] = 100 is not a multiple of the Q4_K block size 256/);
  });

  it('rejects tensor offsets that are not a multiple of the alignment', async () => {
    const { bytes, infoAt } = oneTensor((w) => name(w).u32(1).u64(4).u32(GGMLType.F32).u64(16));
    await expectFormatError(bytes, `${base} offset`, infoAt + 9 + 4 + 8 + 4, /offset 16 is not a multiple of the alignment 32/);
  });

  it('rejects tensor data past the end of the file', async () => {
    const w = new GGUFWriter();
    w.addTensorInfo('a', GGMLType.F32, [8]);
    w.addTensorInfo('b', GGMLType.F32, [16]);
    const full = writeGGUFToBuffer(w);
    expect((await parseGGUF(full)).tensors).toHaveLength(2);
    const header = w.headerBytes().length;
    // Offset field of tensor b: after "a"'s info (9+4+8+4+8 = 33) and b's name, n_dims, ne, type.
    const bOffsetAt = 24 + 33 + 9 + 4 + 8 + 4;
    await expectFormatError(full.subarray(0, full.length - 1), 'tensor info 1 "b" offset', bOffsetAt,
      new RegExp(`data \\[${header + 32}, ${header + 96}\\) ends past the end of the file \\(${full.length - 1} bytes\\)`));
    const huge = new GGUFWriter();
    huge.addTensorInfo('a', GGMLType.F32, [8], undefined, 2 ** 40);
    await expectFormatError(huge.headerBytes(), 'tensor info 0 "a" offset', 24 + 9 + 4 + 8 + 4, /past the end/);
    const beyond = new GGUFWriter();
    beyond.addTensorInfo('a', GGMLType.F32, [8], undefined, Number.MAX_SAFE_INTEGER + 1);
    await expectFormatError(beyond.headerBytes(), 'tensor info 0 "a" offset', 24 + 9 + 4 + 8 + 4, /past the end/);
  });

  it('rejects overlapping tensors', async () => {
    const infoLen = 9 + 4 + 8 + 4 + 8;
    const w = new GGUFWriter();
    w.addTensorInfo('a', GGMLType.F32, [16]);
    w.addTensorInfo('b', GGMLType.F32, [16], undefined, 32); // starts inside a
    await expectFormatError(writeGGUFToBuffer(w), 'tensor info 1 "b" offset', 24 + 2 * infoLen - 8, /offset 32 overlaps tensor "a" \[0, 64\)/);
    const w2 = new GGUFWriter();
    w2.addTensorInfo('a', GGMLType.F32, [16], undefined, 64);
    w2.addTensorInfo('b', GGMLType.F32, [8], undefined, 0);
    w2.addTensorInfo('c', GGMLType.F32, [8], undefined, 0); // same place as b, listed later
    await expectFormatError(writeGGUFToBuffer(w2), 'tensor info 2 "c" offset', 24 + 3 * infoLen - 8, /offset 0 overlaps tensor "b" \[0, 32\)/);
  });

  it('rejects duplicate tensor names', async () => {
    const w = header(2, 0);
    w.str('t').u32(1).u64(8).u32(GGMLType.F32).u64(0);
    const at = w.length;
    w.str('t').u32(1).u64(8).u32(GGMLType.F32).u64(32).zeros(200);
    await expectFormatError(w.toBytes(), 'tensor info 1 name', at, /duplicate tensor name "t" at offset \d+ \(also tensor info 0\)/);
  });

  it('rejects invalid UTF-8 in tensor names', async () => {
    const { bytes, infoAt } = oneTensor((w) => w.u64(1).u8(0x80).u32(1).u64(8).u32(0).u64(0));
    await expectFormatError(bytes, 'tensor info 0 name', infoAt + 8, /not valid UTF-8/);
  });

  it('accepts a zero-dimension (scalar) tensor as ggml does', async () => {
    const { bytes } = oneTensor((w) => name(w).u32(0).u32(GGMLType.F32).u64(0));
    const f = await parseGGUF(bytes);
    expect(f.tensors[0]).toMatchObject({ dims: [], nelements: 1, nbytes: 4 });
  });
});
