import { describe, expect, it } from 'vitest';
import { bufferSource } from './gguf-sources.ts';
import { bf16ToF32, parseShardIndex, readSafetensorsHeader, readSafetensorsRows } from './safetensors.ts';
import { ModelFormatError } from '../common/errors.ts';

/** A safetensors file from a header object and its data section, laid out as the format says. */
function file(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** f32 -> bf16 bits by truncation (exact for the values used here, whose low 16 bits are zero). */
function bf16Bytes(values: number[]): Uint8Array {
  const f = new Float32Array(values);
  const u = new Uint32Array(f.buffer);
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  u.forEach((bits, i) => dv.setUint16(2 * i, bits >>> 16, true));
  return out;
}

// A [3, 2] bf16 weight and a [2] f32 bias, in that order in the data section.
const W = [1, -2, 0.5, 3.25, -0.125, 1024];
const B = new Float32Array([0.75, -6]);
const data = new Uint8Array([...bf16Bytes(W), ...new Uint8Array(B.buffer)]);
const header = {
  __metadata__: { format: 'pt' },
  'mlp.up_proj.weight': { dtype: 'BF16', shape: [3, 2], data_offsets: [0, 12] },
  'mlp.up_proj.bias': { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
};

describe('safetensors', () => {
  it('reads the header, and tensors by row ranges, exactly', async () => {
    const src = bufferSource(file(header, data), 'model.safetensors');
    const st = await readSafetensorsHeader(src);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors.keys()]).toEqual(['mlp.up_proj.weight', 'mlp.up_proj.bias']);
    const w = st.tensors.get('mlp.up_proj.weight')!;
    expect(w).toMatchObject({ dtype: 'BF16', shape: [3, 2], nbytes: 12, offset: st.dataOffset });
    expect([...bf16ToF32(await readSafetensorsRows(src, w, 0, 3))]).toEqual(W);
    expect([...bf16ToF32(await readSafetensorsRows(src, w, 1, 2))]).toEqual(W.slice(2));
    const b = st.tensors.get('mlp.up_proj.bias')!;
    const bias = await readSafetensorsRows(src, b, 0, 2);
    expect([...new Float32Array(bias.slice().buffer)]).toEqual([...B]);
    await expect(readSafetensorsRows(src, w, 2, 2)).rejects.toThrow(/rows \[2, 4\) of "mlp.up_proj.weight" are outside its 3 rows/);
  });

  it('bf16 -> f32 keeps every bit pattern, signed zero, infinities and NaN included', () => {
    const bits = [0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0x0001, 0x7f7f];
    const bytes = new Uint8Array(bits.length * 2);
    bits.forEach((b, i) => new DataView(bytes.buffer).setUint16(2 * i, b, true));
    const f = bf16ToF32(bytes);
    expect([...new Uint32Array(f.buffer)].map((x) => x >>> 16)).toEqual(bits);
    expect(Object.is(f[1], -0)).toBe(true);
    expect(f[4]).toBe(Infinity);
    expect(Number.isNaN(bf16ToF32(Uint8Array.of(0xc1, 0x7f))[0])).toBe(true);
    expect(() => bf16ToF32(new Uint8Array(3))).toThrow(/not whole bf16 values/);
  });

  it('refuses, by name, what the header claims and the file does not hold', async () => {
    const refuse = async (bytes: Uint8Array, pattern: RegExp) => {
      const err = await readSafetensorsHeader(bufferSource(bytes, 'x.safetensors')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFormatError);
      expect((err as Error).message).toMatch(pattern);
    };
    await refuse(new Uint8Array(5), /5 bytes, shorter than the 8-byte header length/);
    await refuse(file(header, data).slice(0, 40), /header needs \d+ bytes but the file \(x.safetensors\) has 40: it is truncated/);
    await refuse(file(header, data).slice(0, -4), /"mlp.up_proj.bias" ends at byte 20 of a data section of 16 bytes: the file \(x.safetensors\) is truncated/);
    await refuse(file(null, data, '{"a": '), /not valid UTF-8 JSON/);
    await refuse(file(null, data, '[1, 2]'), /not a JSON object/);
    await refuse(file({ t: { dtype: 'Q4', shape: [2], data_offsets: [0, 2] } }, data), /"t" has dtype "Q4", not one of F64, F32/);
    await refuse(file({ t: { dtype: 'F32', shape: [2.5], data_offsets: [0, 10] } }, data), /shape \[2.5\], not a list of non-negative integers/);
    await refuse(file({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data), /"t" \(F32 \[3\], 12 bytes\) spans 8 bytes \[0, 8\)/);
    await refuse(file({ t: { dtype: 'F32', shape: [2] } }, data), /data_offsets undefined, not \[begin, end\]/);
    await refuse(
      file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data),
      /"a" and "b" overlap/,
    );
    await refuse(file({ __metadata__: { n: 3 } }, data), /__metadata__.n is not a string/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    await refuse(huge, /header length 1099511627776 is not plausible/);
  });

  it('shard index: the weight map and its shards in order; anything but a sibling .safetensors file refused', () => {
    const idx = parseShardIndex(JSON.stringify({
      metadata: { total_size: 123 },
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' },
    }));
    expect(idx.shards).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(idx.weightMap.get('b')).toBe('model-00002-of-00002.safetensors');
    expect(() => parseShardIndex('{')).toThrow(/not valid JSON/);
    expect(() => parseShardIndex('{"metadata": {}}')).toThrow(/no "weight_map" object/);
    expect(() => parseShardIndex('{"weight_map": {}}')).toThrow(/maps no tensors/);
    expect(() => parseShardIndex('{"weight_map": {"a": "../x.safetensors"}}')).toThrow(/"\.\.\/x.safetensors", not a .safetensors file name/);
    expect(() => parseShardIndex('{"weight_map": {"a": "x.bin"}}')).toThrow(/not a .safetensors file name/);
  });
});
