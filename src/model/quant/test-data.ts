/**
 * Deterministic inputs for the quant tests and for the llama.cpp golden vectors in test-golden.ts
 * (which were produced from exactly these generators: do not change them without regenerating).
 */
import { Rng } from '../../util/rng.ts';

/**
 * n256 super-blocks (256 values each) cycling through shapes that stress the quantizers:
 * gaussian, uniform, all positive with offset, all negative, outliers, zero sub-blocks,
 * all-zero / tiny, and a few discrete levels. Scale varies per block over 1e-4..1e2.
 */
export function mixedData(seed: number, n256: number): Float32Array {
  const r = new Rng(seed);
  const x = new Float32Array(n256 * 256);
  for (let b = 0; b < n256; b++) {
    const kind = b % 8;
    const s = 10 ** r.uniform(-4, 2);
    for (let i = 0; i < 256; i++) {
      let v: number;
      switch (kind) {
        case 0: v = r.normal() * s; break;
        case 1: v = r.uniform(-1, 1) * s; break;
        case 2: v = r.uniform(0, 1) * s + s; break;
        case 3: v = -r.uniform(0, 1) * s - 0.5 * s; break;
        case 4: v = r.normal() * s * (r.next() < 0.02 ? 30 : 1); break;
        case 5: v = (i >> 5) % 2 ? 0 : r.normal() * s; break;
        case 6: v = b % 16 === 6 ? 0 : r.normal() * 1e-7; break;
        default: v = Math.round(r.normal() * 4) * s; break;
      }
      x[b * 256 + i] = v;
    }
  }
  return x;
}

/**
 * nBlocks random blocks of typeSize bytes; the f16 scale fields at `f16Offsets` within each
 * block get their top exponent bit cleared so every scale is finite (|d| < 2).
 */
export function randomBlocks(seed: number, nBlocks: number, typeSize: number, f16Offsets: readonly number[]): Uint8Array {
  const r = new Rng(seed);
  const b = new Uint8Array(nBlocks * typeSize);
  for (let i = 0; i < b.length; i++) b[i] = r.u32() & 0xff;
  for (let k = 0; k < nBlocks; k++) for (const o of f16Offsets) b[k * typeSize + o + 1] &= 0xbf;
  return b;
}

/** Offsets of the f16 scale fields per block, by GGML type id. */
export const F16_FIELDS: Readonly<Record<number, readonly number[]>> = {
  2: [0], // Q4_0 d
  8: [0], // Q8_0 d
  12: [0, 2], // Q4_K d, dmin
  13: [0, 2], // Q5_K d, dmin
  14: [208], // Q6_K d
};

/**
 * n f32 values as raw bit patterns, biased towards the interesting spots of f16/bf16 rounding:
 * anything, the f16 exponent range, exact f16 ties, exact bf16 ties. NaN patterns are skipped.
 */
export function f32Patterns(seed: number, n: number): Float32Array {
  const r = new Rng(seed);
  const bits = new Uint32Array(n);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < n; i++) {
    const sign = r.u32() & 0x80000000;
    const exp = r.int(100, 145) << 23; // 2^-27 .. 2^18: f16 subnormals through overflow
    switch (i % 4) {
      case 0: bits[i] = r.u32(); break;
      case 1: bits[i] = sign | exp | (r.u32() & 0x7fffff); break;
      case 2: bits[i] = sign | exp | (r.u32() & 0x7fe000) | (r.next() < 0.5 ? 0x1000 : 0); break;
      default: bits[i] = (r.u32() & 0xffff0000) | (r.next() < 0.5 ? 0x8000 : r.u32() & 0xffff); break;
    }
    if ((bits[i] & 0x7fffffff) > 0x7f800000) bits[i] &= 0xff800000; // NaN -> inf
  }
  return f;
}

/** FNV-1a over the bytes of a typed array: a compact fingerprint for golden outputs. */
export function fnv1a(a: ArrayBufferView): string {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Lowercase hex of bytes. */
export function toHex(u: Uint8Array): string {
  let s = '';
  for (let i = 0; i < u.length; i++) s += u[i].toString(16).padStart(2, '0');
  return s;
}
