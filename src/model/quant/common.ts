/**
 * Helpers shared by the codecs: argument checks and C float semantics.
 *
 * f32 emulation: a single + - * / or sqrt of two f32 values computed in f64 and then rounded
 * with Math.fround gives exactly the f32 result (f64 has > 2*24+2 significand bits), so
 * `fr(a op b)` after every operation reproduces C `float` arithmetic (without FMA contraction).
 */

export const fr = Math.fround;

/** Number of elements per block and bytes per block of a quant format. */
export interface BlockFormat {
  name: string;
  blockSize: number;
  typeSize: number;
}

/** Validate a dequantize call and return the output array (allocated when not given). */
export function prepareDequant(fmt: BlockFormat, src: Uint8Array, n: number, out: Float32Array | undefined): Float32Array {
  if (!Number.isInteger(n) || n < 0 || n % fmt.blockSize !== 0) {
    throw new RangeError(`${fmt.name}: element count ${n} is not a multiple of the block size ${fmt.blockSize}`);
  }
  const bytes = (n / fmt.blockSize) * fmt.typeSize;
  if (src.length < bytes) throw new RangeError(`${fmt.name}: ${n} elements need ${bytes} bytes, got ${src.length}`);
  if (out === undefined) return new Float32Array(n);
  if (out.length < n) throw new RangeError(`${fmt.name}: output holds ${out.length} < ${n} elements`);
  return out;
}

/** Validate a quantize call; returns the number of blocks. */
export function blockCount(fmt: BlockFormat, x: Float32Array): number {
  if (x.length % fmt.blockSize !== 0) {
    throw new RangeError(`${fmt.name}: element count ${x.length} is not a multiple of the block size ${fmt.blockSize}`);
  }
  return x.length / fmt.blockSize;
}

/**
 * ggml's nearest_int: adds 1.5*2^23 in f32 so the FPU rounds half-to-even; valid for |v| <= 2^22.
 * `v` must already be an f32 value.
 */
export function nearestInt(v: number): number {
  return fr(v + 12582912) - 12582912;
}

/** C roundf: half away from zero. `v` an f32 value (the +0.5 is exact in f64). */
export function roundf(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** Store a little-endian u16 at byte offset o. */
export function putU16(dst: Uint8Array, o: number, v: number): void {
  dst[o] = v & 0xff;
  dst[o + 1] = (v >> 8) & 0xff;
}
