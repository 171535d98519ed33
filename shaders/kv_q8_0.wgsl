// Row codec of the q8_0 KV cache (src/kernels/kv-cache.ref.ts): a row of one kv head at one
// position is kvRowWords() u32 words: HD/4 words of int8 quants (dim 4i + b in byte b of word i),
// then the HD/32 block scales as f16 pairs (block 2s in the low half of word HD/4 + s, 2s + 1 in
// the high half). Same functions as kv_f16.wgsl, read the same way:
//   kvPair(A[row + kvPairWord(w)], A[row + kvScaleWord(w)], w)   dims 2w, 2w + 1 as q * d.
// q * d is exact in f32 (8-bit q times an 11-bit f16 significand), so a value reads back exactly
// as the CPU reference dequantizes it. The including module declares HD (a multiple of 32).

fn kvRowWords() -> u32 {
  return HD / 4u + (HD + 63u) / 64u;
}

fn kvPairWord(w: u32) -> u32 {
  return w / 2u;
}

fn kvScaleWord(w: u32) -> u32 {
  return HD / 4u + w / 32u;
}

// Bytes 2(w & 1) and 2(w & 1) + 1 of `word`, sign-extended (shift the byte to the top, then an
// arithmetic shift down), times the f16 scale of block w / 16.
fn kvPair(word: u32, scale: u32, w: u32) -> vec2<f32> {
  let sh = (w & 1u) * 16u;
  let lo = bitcast<i32>(word << (24u - sh)) >> 24u;
  let hi = bitcast<i32>(word << (16u - sh)) >> 24u;
  let d = unpack2x16float(scale)[(w / 16u) & 1u];
  return vec2<f32>(f32(lo), f32(hi)) * d;
}
const KV_Q8: bool = true;

// The pair rounded to an f16 pair word, for the rows-f16 prefill tiles (one rounding of q * d,
// which attention.test.ts's rows-f16 bound takes in).
fn kvPairF16(word: u32, scale: u32, w: u32) -> u32 {
  return pack2x16float(kvPair(word, scale, w));
}
