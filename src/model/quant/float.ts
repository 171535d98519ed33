/**
 * Unquantized types: F32 (4 B), F16 (2 B) and BF16 (2 B) per element, little-endian.
 */
import { prepareDequant } from './common.ts';
import type { BlockFormat } from './common.ts';
import { f16Table, f32ToBf16, f32ToF16 } from './f16.ts';

export const F32: BlockFormat = { name: 'F32', blockSize: 1, typeSize: 4 };
export const F16: BlockFormat = { name: 'F16', blockSize: 1, typeSize: 2 };
export const BF16: BlockFormat = { name: 'BF16', blockSize: 1, typeSize: 2 };

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function dequantizeF32(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const y = prepareDequant(F32, src, n, out);
  if (littleEndian) {
    // Byte copy: works for any src alignment.
    new Uint8Array(y.buffer, y.byteOffset, n * 4).set(src.subarray(0, n * 4));
  } else {
    const dv = new DataView(src.buffer, src.byteOffset, n * 4);
    for (let i = 0; i < n; i++) y[i] = dv.getFloat32(4 * i, true);
  }
  return y;
}

export function quantizeF32(x: Float32Array): Uint8Array {
  const dst = new Uint8Array(x.length * 4);
  const dv = new DataView(dst.buffer);
  for (let i = 0; i < x.length; i++) dv.setFloat32(4 * i, x[i], true);
  return dst;
}

export function dequantizeF16(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const y = prepareDequant(F16, src, n, out);
  const f16 = f16Table();
  for (let i = 0; i < n; i++) y[i] = f16[src[2 * i] | (src[2 * i + 1] << 8)];
  return y;
}

/** Round-to-nearest-even to f16; overflow -> inf. */
export function quantizeF16(x: Float32Array): Uint8Array {
  const dst = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToF16(x[i]);
    dst[2 * i] = h & 0xff;
    dst[2 * i + 1] = h >> 8;
  }
  return dst;
}

export function dequantizeBf16(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const y = prepareDequant(BF16, src, n, out);
  // Write the f32 bits directly (bf16 is the top half of an f32): exact, NaN payloads included.
  const bits = new Uint32Array(y.buffer, y.byteOffset, n);
  for (let i = 0; i < n; i++) bits[i] = ((src[2 * i] << 16) | (src[2 * i + 1] << 24)) >>> 0;
  return y;
}

/** Round-to-nearest-even to bf16 (ggml_compute_fp32_to_bf16). */
export function quantizeBf16(x: Float32Array): Uint8Array {
  const dst = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToBf16(x[i]);
    dst[2 * i] = h & 0xff;
    dst[2 * i + 1] = h >> 8;
  }
  return dst;
}
