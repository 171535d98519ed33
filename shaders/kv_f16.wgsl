// Row codec of the f16 KV cache (src/kernels/kv-cache.ref.ts): a row of one kv head at one position
// is HD/2 u32 words, word w holding dims 2w (low half) and 2w + 1 (high half). The attention
// modules prepend this file or kv_q8_0.wgsl (same functions) and read dims 2w, 2w + 1 of a row at
// word `row` of an array A as
//   kvPair(A[row + kvPairWord(w)], A[row + kvScaleWord(w)], w)
// Here the second load is the first one again (and kvPair ignores it), so it costs nothing.
// The including module declares HD.

fn kvRowWords() -> u32 {
  return HD / 2u;
}

fn kvPairWord(w: u32) -> u32 {
  return w;
}

fn kvScaleWord(w: u32) -> u32 {
  return w;
}

fn kvPair(word: u32, scale: u32, w: u32) -> vec2<f32> {
  return unpack2x16float(word);
}
const KV_Q8: bool = false;

// The same pair as the f16 pair word the rows-f16 prefill tiles hold: the word itself.
fn kvPairF16(word: u32, scale: u32, w: u32) -> u32 {
  return word;
}
