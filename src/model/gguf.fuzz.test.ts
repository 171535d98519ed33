/**
 * Seeded mutation fuzzing of the GGUF reader: truncations, bit flips and adversarial values in
 * every count, length, dim, type and offset field of a small phi3-like file. Every input must
 * end in a ModelFormatError or a parse whose tensors lie inside the file; any other exception
 * (RangeError from a DataView, an allocation failure, a TypeError) or a hang fails the test.
 */
import { expect, it } from 'vitest';
import { Rng } from '../util/rng.ts';
import { ModelFormatError } from '../common/errors.ts';
import { GGMLType, GGUFValueType as T, parseGGUF } from './gguf.ts';
import { fixtureFile } from './test-gguf.ts';

const ITERATIONS = 12_000;

interface Field { at: number; size: 4 | 8; kind: string }

/** Positions of every structural field of a valid file (sync walk; the file is trusted). */
function fields(b: Uint8Array): { list: Field[]; dataOffset: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const list: Field[] = [];
  let p = 0;
  const f = (size: 4 | 8, kind: string): number => {
    list.push({ at: p, size, kind });
    const v = size === 4 ? dv.getUint32(p, true) : Number(dv.getBigUint64(p, true));
    p += size;
    return v;
  };
  const str = (kind: string) => {
    const n = f(8, kind); // not `p += f(...)`: that reads p before f advances it
    p += n;
  };
  p = 8;
  const nT = f(8, 'n_tensors');
  const nKv = f(8, 'n_kv');
  const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  for (let i = 0; i < nKv; i++) {
    str('key length');
    const type = f(4, 'value type');
    if (type === T.STRING) str('string length');
    else if (type === T.ARRAY) {
      const et = f(4, 'array type');
      const n = f(8, 'array count');
      if (et === T.STRING) for (let j = 0; j < n; j++) str('array string length');
      else p += n * sizes[et];
    } else p += sizes[type];
  }
  for (let i = 0; i < nT; i++) {
    str('name length');
    const nd = f(4, 'n_dims');
    for (let j = 0; j < nd; j++) f(8, 'dim');
    f(4, 'tensor type');
    f(8, 'tensor offset');
  }
  return { list, dataOffset: Math.ceil(p / 32) * 32 };
}

const ADVERSARIAL_64 = [0n, 1n, 2n, 3n, 31n, 32n, 255n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - 2n];
const ADVERSARIAL_32 = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 30, 31, 99, 2 ** 31, 2 ** 32 - 1];

it(`survives ${ITERATIONS} seeded mutations with only ModelFormatError`, async () => {
  const base = fixtureFile({ nLayers: 1, dim: 32, nHeads: 2, ffnDim: 64, vocabSize: 400, weightType: GGMLType.Q8_0 });
  const { list, dataOffset } = fields(base);
  // Pick the kind of field first, so the vocab's 400 string lengths do not crowd out the rest.
  const byKind = new Map<string, Field[]>();
  for (const f of list) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  const kinds = [...byKind.values()];
  expect((await parseGGUF(base)).tensors.length).toBeGreaterThan(5);
  const rng = new Rng(0x5eed);
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  const t0 = performance.now();

  for (let it = 0; it < ITERATIONS; it++) {
    let b = base.slice();
    const dv = new DataView(b.buffer);
    const mode = it % 4;
    let desc = '';
    if (mode === 0 || mode === 3) {
      // A structural field set to an adversarial value (or nudged from its real one).
      const ofKind = kinds[rng.int(0, kinds.length - 1)];
      const fld = ofKind[rng.int(0, ofKind.length - 1)];
      if (fld.size === 8) {
        const orig = dv.getBigUint64(fld.at, true);
        const r = rng.next();
        const v = r < 0.6 ? ADVERSARIAL_64[rng.int(0, ADVERSARIAL_64.length - 1)]
          : r < 0.8 ? BigInt.asUintN(64, orig + BigInt(rng.int(-40, 40)))
          : BigInt(rng.int(0, b.length * 2));
        dv.setBigUint64(fld.at, v, true);
        desc = `${fld.kind}@${fld.at}=${v}`;
      } else {
        const orig = dv.getUint32(fld.at, true);
        const v = rng.next() < 0.7 ? ADVERSARIAL_32[rng.int(0, ADVERSARIAL_32.length - 1)] : (orig + rng.int(-3, 3)) >>> 0;
        dv.setUint32(fld.at, v, true);
        desc = `${fld.kind}@${fld.at}=${v}`;
      }
    }
    if (mode === 1 || mode === 3) {
      // Bit flips, mostly in the header where they matter.
      const n = rng.int(1, 8);
      for (let k = 0; k < n; k++) {
        const at = rng.next() < 0.9 ? rng.int(0, dataOffset - 1) : rng.int(0, b.length - 1);
        b[at] ^= 1 << rng.int(0, 7);
      }
      desc += ` flips:${n}`;
    }
    if (mode === 2 || (mode === 3 && rng.next() < 0.3)) {
      b = b.subarray(0, rng.int(0, rng.next() < 0.8 ? dataOffset + 64 : b.length - 1));
      desc += ` truncate:${b.length}`;
    }
    const initialWindow = [64, 200, 4096, 1 << 20][rng.int(0, 3)];

    try {
      const f = await parseGGUF(b, { initialWindow });
      count('ok');
      for (const t of f.tensors) {
        expect(f.dataOffset + t.offset + t.nbytes, desc).toBeLessThanOrEqual(b.length);
        expect(t.offset % f.alignment, desc).toBe(0);
      }
    } catch (e) {
      if (!(e instanceof ModelFormatError)) throw new Error(`iteration ${it} (${desc}): ${String(e)}`, { cause: e });
      expect(e.message, desc).toContain(`at offset ${e.offset}`);
      count(e.field!.replace(/^(kv|tensor info) \d+ ("[^"]*" )?/, '$1 ').replace(/\[\d+\]/, '[i]'));
    }
  }

  const ms = performance.now() - t0;
  console.log(`gguf fuzz: ${ITERATIONS} mutations in ${(ms / 1000).toFixed(2)} s`, Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])));
  // The mutations must reach deep: many distinct failure sites, and some inputs must still parse.
  expect(outcomes.get('ok') ?? 0).toBeGreaterThan(50);
  expect(outcomes.size).toBeGreaterThanOrEqual(15);
  for (const k of ['magic', 'version', 'n_tensors', 'n_kv', 'kv key', 'kv type', 'kv value', 'kv array type', 'kv array count', 'kv [i]',
    'tensor info name', 'tensor info dims', 'tensor info type', 'tensor info offset']) {
    expect(outcomes.get(k) ?? 0, k).toBeGreaterThan(0);
  }
});
