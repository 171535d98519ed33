import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../common/errors.ts';
import {
  GGMLType,
  GGML_TYPE_INFO,
  GGUFValueType,
  getBool,
  getF32,
  getF32Array,
  getI32Array,
  getString,
  getStringArray,
  getU32,
  parseGGUF,
  readGGUF,
  tensorBytes,
} from './gguf.ts';
import type { ByteSource, GGUFValue } from './gguf.ts';
import { bufferSource } from './gguf-sources.ts';
import { GGUFWriter, writeGGUF, writeGGUFToBuffer } from './gguf-write.ts';
import { fixtureData, fixtureFile, fixtureWriter } from './test-gguf.ts';

/** Wraps a source and counts the bytes and calls it serves. */
function counting(src: ByteSource): ByteSource & { bytes: number; calls: number } {
  const c = {
    size: src.size,
    name: src.name,
    bytes: 0,
    calls: 0,
    async read(o: number, n: number) {
      c.bytes += n;
      c.calls++;
      return src.read(o, n);
    },
  };
  return c;
}

const T = GGUFValueType;

/** One key per scalar type and per array element type, with values that stress each type's range. */
function everyTypeWriter(alignment?: number): { w: GGUFWriter; expected: Map<string, GGUFValue> } {
  const w = new GGUFWriter({ alignment });
  const expected = new Map<string, GGUFValue>();
  const add = (key: string, type: GGUFValueType, value: Parameters<GGUFWriter['addKV']>[2], exp: GGUFValue, at?: GGUFValueType) => {
    w.addKV(key, type, value, at);
    expected.set(key, exp);
  };
  if (alignment !== undefined && alignment !== 32) expected.set('general.alignment', alignment);
  add('u8', T.UINT8, 255, 255);
  add('i8', T.INT8, -128, -128);
  add('u16', T.UINT16, 65535, 65535);
  add('i16', T.INT16, -32768, -32768);
  add('u32', T.UINT32, 0xffffffff, 0xffffffff);
  add('i32', T.INT32, -0x80000000, -0x80000000);
  add('f32', T.FLOAT32, 0.1, Math.fround(0.1));
  add('f64', T.FLOAT64, Math.PI, Math.PI);
  add('bool.t', T.BOOL, true, true);
  add('bool.f', T.BOOL, false, false);
  add('str', T.STRING, 'plain', 'plain');
  add('str.empty', T.STRING, '', '');
  add('str.unicode', T.STRING, 'é ▁日本語 😀 \u0000 nul', 'é ▁日本語 😀 \u0000 nul');
  add('u64.small', T.UINT64, 2 ** 53 - 1, 2 ** 53 - 1);
  add('u64.big', T.UINT64, 2n ** 64n - 1n, 2n ** 64n - 1n);
  add('i64.small', T.INT64, -(2 ** 53 - 1), -(2 ** 53 - 1));
  add('i64.big', T.INT64, -(2n ** 63n), -(2n ** 63n));
  add('arr.u8', T.ARRAY, [0, 1, 255], Uint8Array.from([0, 1, 255]), T.UINT8);
  add('arr.i8', T.ARRAY, [-128, 0, 127], Int8Array.from([-128, 0, 127]), T.INT8);
  add('arr.u16', T.ARRAY, [0, 65535], Uint16Array.from([0, 65535]), T.UINT16);
  add('arr.i16', T.ARRAY, [-32768, 32767], Int16Array.from([-32768, 32767]), T.INT16);
  add('arr.u32', T.ARRAY, [0, 0xffffffff], Uint32Array.from([0, 0xffffffff]), T.UINT32);
  add('arr.i32', T.ARRAY, [-0x80000000, 7], Int32Array.from([-0x80000000, 7]), T.INT32);
  add('arr.f32', T.ARRAY, Float32Array.from([1.5, -0, Infinity]), Float32Array.from([1.5, -0, Infinity]), T.FLOAT32);
  add('arr.f64', T.ARRAY, [Math.E, -1e300], Float64Array.from([Math.E, -1e300]), T.FLOAT64);
  add('arr.u64', T.ARRAY, [0n, 2n ** 64n - 1n], BigUint64Array.from([0n, 2n ** 64n - 1n]), T.UINT64);
  add('arr.i64', T.ARRAY, [-(2n ** 63n), 5n], BigInt64Array.from([-(2n ** 63n), 5n]), T.INT64);
  add('arr.bool', T.ARRAY, [true, false, true], [true, false, true], T.BOOL);
  add('arr.str', T.ARRAY, ['a', '', '日本', '😀'], ['a', '', '日本', '😀'], T.STRING);
  add('arr.empty.str', T.ARRAY, [], [], T.STRING);
  add('arr.empty.f32', T.ARRAY, [], new Float32Array(0), T.FLOAT32);
  add('arr.empty.u64', T.ARRAY, [], new BigUint64Array(0), T.UINT64);
  // Tensors of several types, sizes not multiples of the alignment so padding matters.
  w.addTensorInfo('a.f32', GGMLType.F32, [3, 5]);
  w.addTensorInfo('b.f16', GGMLType.F16, [7]);
  w.addTensorInfo('c.q4_0', GGMLType.Q4_0, [64, 3]);
  w.addTensorInfo('d.q8_0', GGMLType.Q8_0, [32, 2, 2]);
  w.addTensorInfo('e.q4_k', GGMLType.Q4_K, [256, 2]);
  w.addTensorInfo('f.q5_k', GGMLType.Q5_K, [512]);
  w.addTensorInfo('g.q6_k', GGMLType.Q6_K, [256, 1, 1, 3]);
  w.addTensorInfo('h.bf16', GGMLType.BF16, [9, 1]);
  return { w, expected };
}

describe('GGUF round trip (writer -> reader)', () => {
  for (const alignment of [32, 64]) {
    it(`keeps every value type, array type and tensor at alignment ${alignment}`, async () => {
      const { w, expected } = everyTypeWriter(alignment);
      const data = fixtureData(w, 7);
      const bytes = writeGGUFToBuffer(w, data);
      const f = await parseGGUF(bytes);
      expect(f.version).toBe(3);
      expect(f.alignment).toBe(alignment);
      expect([...f.metadata.keys()]).toEqual([...expected.keys()]); // insertion order
      for (const [k, v] of expected) expect(f.metadata.get(k), k).toEqual(v);
      expect(f.metadataTypes.get('arr.i64')).toEqual({ type: T.ARRAY, arrayType: T.INT64 });
      expect(f.dataOffset % alignment).toBe(0);
      expect(f.dataOffset).toBeGreaterThanOrEqual(f.headerBytes);
      expect(f.dataOffset - f.headerBytes).toBeLessThan(alignment);
      expect(f.fileSize).toBe(bytes.length);
      expect(f.tensors.map((t) => t.name)).toEqual(w.tensorInfos.map((t) => t.name));
      f.tensors.forEach((t, i) => {
        const wi = w.tensorInfos[i];
        expect(t.type).toBe(wi.type);
        expect(t.dims).toEqual(wi.dims);
        expect(t.nbytes).toBe(tensorBytes(wi.type, wi.dims));
        expect(t.nelements).toBe(wi.dims.reduce((a, b) => a * b, 1));
        expect(t.offset % alignment).toBe(0);
        // The data is where the header says (breaks if offsets or padding drift).
        const at = f.dataOffset + t.offset;
        expect(bytes.subarray(at, at + t.nbytes)).toEqual(data[i]);
      });
    });
  }

  it('streams the same bytes as the in-memory writer, in chunks', async () => {
    const w = fixtureWriter({ alignment: 64 });
    const data = fixtureData(w, 3);
    const chunks: Uint8Array[] = [];
    const n = await writeGGUF(
      w,
      (i) => (function* () {
        const d = data[i];
        for (let p = 0; p < d.length; p += 100) yield d.subarray(p, p + 100);
      })(),
      async (c) => void chunks.push(c.slice()),
    );
    const streamed = new Uint8Array(n);
    let p = 0;
    for (const c of chunks) {
      streamed.set(c, p);
      p += c.length;
    }
    expect(p).toBe(n);
    // Buffer.equals: vitest's toEqual walks 250 KB element by element (~1 s).
    expect(Buffer.from(streamed).equals(writeGGUFToBuffer(w, data))).toBe(true);
  });

  it('refuses tensor data of the wrong length while streaming', async () => {
    const w = new GGUFWriter();
    w.addTensorInfo('x', GGMLType.F32, [4]);
    await expect(writeGGUF(w, () => new Uint8Array(15), () => {})).rejects.toThrow(/needs 16 bytes/);
  });

  it('records the block layout of every supported type (PHI3.md 3.4)', () => {
    expect(GGML_TYPE_INFO[GGMLType.Q4_K]).toEqual({ name: 'Q4_K', blockSize: 256, typeSize: 144 });
    expect(tensorBytes(GGMLType.Q6_K, [3072, 32064])).toBe((3072 / 256) * 210 * 32064);
    expect(tensorBytes(GGMLType.Q4_0, [64, 2])).toBe(2 * 2 * 18);
    expect(() => tensorBytes(GGMLType.Q8_0, [33])).toThrow(RangeError);
  });
});

describe('GGUF reader reads only the header', () => {
  it('parses a 2.4 GB file from about one 1 MiB window', async () => {
    // The phi3 fixture's header, followed by a virtual 2.4 GB tensor section that is never read.
    const w = fixtureWriter({ vocabSize: 2000 });
    const header = w.headerBytes();
    const size = 2_400_000_000;
    w.addTensorInfo('huge', GGMLType.Q4_K, [256, Math.floor((size - header.length - w.dataBytes - 4096) / 144)]);
    const h2 = w.headerBytes();
    const virtual: ByteSource = {
      size,
      async read(o, n) {
        if (o + n > h2.length) throw new Error(`read past the header: ${o}+${n}`);
        return h2.subarray(o, o + n);
      },
    };
    const src = counting({
      size,
      read: (o, n) => virtual.read(o, Math.min(n, h2.length - o)).then((b) => {
        const out = new Uint8Array(n);
        out.set(b);
        return out;
      }),
    });
    const f = await readGGUF(src);
    expect(f.tensors.at(-1)!.name).toBe('huge');
    expect(f.fileSize).toBe(size);
    expect(src.calls).toBe(1);
    expect(src.bytes).toBe(1 << 20);
  });

  it('grows the window when a string array crosses it, reading each byte once', async () => {
    const bytes = fixtureFile({ vocabSize: 3000 });
    const src = counting(bufferSource(bytes));
    const f = await readGGUF(src, { initialWindow: 256 });
    expect(getStringArray(f.metadata, 'tokenizer.ggml.tokens')).toHaveLength(3000);
    expect(src.calls).toBeGreaterThan(3);
    // Doubling: never more than twice the header, never the tensor data.
    expect(src.bytes).toBeLessThanOrEqual(2 * f.headerBytes);
    expect(src.bytes).toBeLessThan(bytes.length);
  });

  it('refuses a header longer than maxHeaderBytes before reading it', async () => {
    const bytes = fixtureFile({ vocabSize: 3000 });
    const src = counting(bufferSource(bytes));
    await expect(readGGUF(src, { initialWindow: 1024, maxHeaderBytes: 4096 })).rejects.toThrow(/4096-byte limit/);
    expect(src.bytes).toBeLessThanOrEqual(4096);
  });
});

describe('typed metadata getters', () => {
  it('read the right kinds and name the key when wrong or missing', async () => {
    const f = await parseGGUF(fixtureFile());
    const m = f.metadata;
    expect(getU32(m, 'phi3.block_count')).toBe(2);
    expect(getF32(m, 'phi3.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    expect(getString(m, 'general.architecture')).toBe('phi3');
    expect(getBool(m, 'tokenizer.ggml.add_bos_token')).toBe(true);
    expect(getF32Array(m, 'tokenizer.ggml.scores')).toHaveLength(300);
    expect(getI32Array(m, 'tokenizer.ggml.token_type')[1]).toBe(3);
    expect(getU32(m, 'no.such.key', 7)).toBe(7);
    const e1 = (() => { try { getU32(m, 'no.such.key'); } catch (e) { return e; } })();
    expect(e1).toBeInstanceOf(ModelFormatError);
    expect((e1 as ModelFormatError).field).toBe('no.such.key');
    expect((e1 as Error).message).toMatch(/required key "no.such.key" is missing/);
    expect(() => getU32(m, 'general.architecture')).toThrow(/"general.architecture" is the string "phi3", expected an unsigned 32-bit integer/);
    expect(() => getString(m, 'phi3.block_count')).toThrow(ModelFormatError);
    expect(() => getStringArray(m, 'tokenizer.ggml.scores')).toThrow(/expected an array of strings/);
  });
});
