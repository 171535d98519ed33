// The split-d layout of Q4_0, Q8_0 and Q6_K (src/model/repack.ts): the f16 d of every block in a
// separate array at binding 1, each row padded to whole u32s: ceil(nb / 2) words, block 2i in the
// low half of word i. src/kernels/weight-formats.ts puts this file in the module, and binding 1
// in the layout, for the formats whose FormatInfo is `split`.

@group(0) @binding(1) var<storage, read> ws: array<u32>;

// d of block b (0-based within its row) of weight row `row`.
fn block_d(row: u32, b: u32) -> f32 {
  let nb = params.k / BLOCK;
  let pair = unpack2x16float(ws[row * ((nb + 1u) >> 1u) + (b >> 1u)]);
  return select(pair.x, pair.y, (b & 1u) == 1u);
}
