/**
 * Exact IEEE binary16 and bfloat16 <-> f32 conversion, as ggml does it (ggml-impl.h).
 * Inputs of the f32 -> 16-bit direction are JS numbers; they are first rounded to f32,
 * matching the C functions, which take a `float`.
 */

// Scratch for reinterpreting f32 bits. Little/big endian does not matter: same-width views.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

let table: Float32Array | null = null;

/** f16 bits -> f32 value for all 65536 patterns, built on first use (256 KiB). */
export function f16Table(): Float32Array {
  if (table === null) {
    const t = new Float32Array(65536);
    const bits = new Uint32Array(t.buffer);
    for (let h = 0; h < 65536; h++) bits[h] = f16ToF32Bits(h);
    table = t;
  }
  return table;
}

/** f16 bits -> f32 bits. NaN keeps its payload and is made quiet, as ggml's portable path does. */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 31) return (sign | 0x7f800000 | (man ? 0x400000 : 0) | (man << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (man << 13)) >>> 0; // rebias 15 -> 127
  if (man === 0) return sign >>> 0;
  // subnormal man * 2^-24: normalise so the leading 1 sits at bit 10.
  let e = 113; // f32 exponent field of 2^-14
  let m = man;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** f16 bit pattern (low 16 bits used) -> f32 value. */
export function f16ToF32(bits: number): number {
  return f16Table()[bits & 0xffff];
}

/** Round-to-nearest-even of a non-negative double to an integer. */
function rneInt(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  return r > 0.5 || (r === 0.5 && (f & 1) === 1) ? f + 1 : f;
}

/**
 * f32 -> f16 bits with round-to-nearest-even; overflow -> inf; NaN -> quiet NaN 0x7E00 | sign
 * (what ggml's portable ggml_compute_fp32_to_fp16 returns; JS cannot carry NaN payloads reliably).
 */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  const b = scratchU32[0];
  const sign = (b >>> 16) & 0x8000;
  const abs = b & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  // 65520 = 0x477FF000 is halfway between 65504 (odd mantissa) and 65536: ties to even -> inf.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    // below 2^-14: f16 subnormal, value = k * 2^-24. k may round up to 1024 = smallest normal.
    return sign | rneInt(Math.abs(scratchF32[0]) * 2 ** 24);
  }
  // normal: rebias exponent 127 -> 15 (subtract 112 << 23), drop 13 mantissa bits with RNE.
  // A mantissa carry correctly bumps the exponent.
  let h = (abs - 0x38000000) >>> 13;
  const rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** bf16 bits -> f32: the bits are the top half of the f32. */
export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** f32 -> bf16 bits, round-to-nearest-even; NaN forced quiet (ggml_compute_fp32_to_bf16). */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  // Adding 0x7fff + lsb rounds to nearest, ties to even; may carry into the exponent (-> inf).
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
