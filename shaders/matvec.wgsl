// Matrix-vector product for one token (decode), dequantizing on the fly:
//   y[y_offset + r] = sum_k W[r, k] * x[k]      (params.accumulate != 0: y[y_offset + r] += ...)
// for the rows r of one weight tensor, or of one row-range part of a split tensor.
//
// Module = quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + gemv_input.wgsl (or,
//          merging split-K attention partials into x, matvec_merge.wgsl) + gemv_common.wgsl
//          + this file + reduce_{tree,subgroup}.wgsl + matvec_store.wgsl (or
//          matvec_store_norm.wgsl: also the next RMSNorm's inputs; or, split-K,
//          matvec_store_split.wgsl).
// Bindings: linear_bindings.wgsl's 0..4 (params: k, rows, y_offset, accumulate), and
//           matvec_store_norm.wgsl's 5..7.
// Dispatch: (ceil(rows / ROWS), SPLIT, 1) workgroups of WG threads.
//
// A workgroup owns ROWS consecutive rows. Its threads stride over the row's chunks (CHUNK
// elements, one or a few vec4<u32> of weights): each thread loads a chunk of x once into
// registers and reuses it for all ROWS rows, keeping one partial sum per row. The partial sums
// are then reduced across the workgroup (reduce_*.wgsl). Rows past the end are clamped to the
// last row (their sums are computed and dropped), so every loop has a constant trip count.
// Split-K (SPLIT > 1): workgroup (i, s) takes the s-th of SPLIT runs of ceil(chunks / SPLIT)
// consecutive chunks of rows i ROWS .., and matvec_store_split.wgsl adds its sums to y.

// Rows per workgroup, at most MAX_ROWS.
override ROWS: u32 = 16u;
const MAX_ROWS: u32 = 32u;
// Workgroups per row block, each over its own run of the chunks (1: one over all of them).
override SPLIT: u32 = 1u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: ReduceIds) {
  let lid = ids.lid;
  gemv_input(lid);
  let row0 = wid.x * ROWS;
  let last = params.rows - 1u;
  let nchunks = params.k / CHUNK;
  let run = (nchunks + SPLIT - 1u) / SPLIT;
  let c0 = wid.y * run;
  let c1 = min(nchunks, c0 + run);
  var acc: array<f32, MAX_ROWS>;
  for (var c = c0 + lid; c < c1; c += WG) {
    var v: array<vec4<f32>, CHUNK_VECS>;
    for (var j = 0u; j < CHUNK_VECS; j++) {
      v[j] = x[chunk_vec(c, j)];
    }
    let xc = prep_x(v);
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += chunk_dot(min(row0 + r, last), c, xc);
    }
  }
  let total = reduce_rows(ids, acc);
  // thread r < ROWS holds row row0 + r (matvec_store.wgsl / matvec_store_norm.wgsl)
  store_rows(wid.x, lid, row0, total);
}
