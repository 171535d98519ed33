/**
 * Typed getters over GGUF metadata. Each throws a ModelFormatError naming the key when a
 * required key is missing or holds the wrong kind of value; pass a default to make it optional.
 * Integer getters check the value, not the stored tag, so a u32 key written as i32 still reads.
 */

import { ModelFormatError } from '../common/errors.ts';
import type { GGUFValue } from './gguf-types.ts';

export type GGUFMetadata = ReadonlyMap<string, GGUFValue>;

function describe(v: GGUFValue): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function wrong(key: string, v: GGUFValue, expected: string): ModelFormatError {
  return new ModelFormatError(`GGUF metadata: key "${key}" is ${describe(v)}, expected ${expected}`, { field: key });
}

function lookup(meta: GGUFMetadata, key: string, def: GGUFValue | undefined): GGUFValue {
  const v = meta.get(key);
  if (v !== undefined) return v;
  if (def !== undefined) return def;
  throw new ModelFormatError(`GGUF metadata: required key "${key}" is missing`, { field: key });
}

function getInt(meta: GGUFMetadata, key: string, def: number | undefined, lo: number, hi: number, what: string): number {
  const v = lookup(meta, key, def);
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) throw wrong(key, v, what);
  return n;
}

export function hasKey(meta: GGUFMetadata, key: string): boolean {
  return meta.has(key);
}

export function getU32(meta: GGUFMetadata, key: string, def?: number): number {
  return getInt(meta, key, def, 0, 0xffffffff, 'an unsigned 32-bit integer');
}

export function getI32(meta: GGUFMetadata, key: string, def?: number): number {
  return getInt(meta, key, def, -0x80000000, 0x7fffffff, 'a signed 32-bit integer');
}

/** Any integer that is exact as a JS number (u64/i64 keys included). */
export function getInt53(meta: GGUFMetadata, key: string, def?: number): number {
  return getInt(meta, key, def, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'an integer');
}

/** f32 or f64 (or any number; integers are accepted). */
export function getF32(meta: GGUFMetadata, key: string, def?: number): number {
  const v = lookup(meta, key, def);
  if (typeof v !== 'number') throw wrong(key, v, 'a number');
  return v;
}

export function getString(meta: GGUFMetadata, key: string, def?: string): string {
  const v = lookup(meta, key, def);
  if (typeof v !== 'string') throw wrong(key, v, 'a string');
  return v;
}

export function getBool(meta: GGUFMetadata, key: string, def?: boolean): boolean {
  const v = lookup(meta, key, def);
  if (typeof v !== 'boolean') throw wrong(key, v, 'a bool');
  return v;
}

export function getStringArray(meta: GGUFMetadata, key: string, def?: string[]): string[] {
  const v = lookup(meta, key, def);
  if (!Array.isArray(v) || (v.length > 0 && typeof v[0] !== 'string')) throw wrong(key, v, 'an array of strings');
  return v as string[];
}

export function getF32Array(meta: GGUFMetadata, key: string, def?: Float32Array): Float32Array {
  const v = lookup(meta, key, def);
  if (!(v instanceof Float32Array)) throw wrong(key, v, 'an array of f32');
  return v;
}

/** An i32 array; u8/i8/u16/i16/u32 arrays whose values fit are converted (token_type is i32 in llama.cpp's files). */
export function getI32Array(meta: GGUFMetadata, key: string, def?: Int32Array): Int32Array {
  const v = lookup(meta, key, def);
  if (v instanceof Int32Array) return v;
  if (v instanceof Uint8Array || v instanceof Int8Array || v instanceof Uint16Array || v instanceof Int16Array) {
    return Int32Array.from(v);
  }
  if (v instanceof Uint32Array && v.every((x) => x <= 0x7fffffff)) return Int32Array.from(v);
  throw wrong(key, v, 'an array of i32');
}

/** Any numeric array (not bigint) as a plain typed array, for callers that only read numbers. */
export function getNumberArray(meta: GGUFMetadata, key: string): ArrayLike<number> {
  const v = lookup(meta, key, undefined);
  if (ArrayBuffer.isView(v) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)) {
    return v as ArrayLike<number>;
  }
  throw wrong(key, v, 'an array of numbers');
}
