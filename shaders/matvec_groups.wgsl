// matvec.wgsl in row groups (gemv_groups.wgsl), for GPUs:
//   y[y_offset + r] = sum_k W[r, k] * x[k]      (params.accumulate != 0: y[y_offset + r] += ...)
//
// Module = quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + gemv_input.wgsl (or
//          matvec_merge.wgsl) + gemv_common.wgsl + gemv_store_y.wgsl + gemv_groups.wgsl (LANES,
//          GROUP_ROWS, NACC = GROUP_ROWS) + this file + reduce_group_{tree,subgroup}.wgsl +
//          matvec_store.wgsl (or matvec_store_norm.wgsl, or matvec_store_split.wgsl).
// Bindings: as matvec.wgsl.
// Dispatch: (ceil(rows / ROWS), SPLIT, 1) workgroups of WG threads; split-K (SPLIT > 1) as in
// matvec.wgsl: workgroup (i, s) takes the s-th run of ceil(chunks / SPLIT) chunks.
//
// Rows past the end are clamped to the last row (their sums are computed and dropped), so the
// row loop has a constant trip count. The store snippets see the workgroup as matvec.wgsl's:
// lane r < GROUP_ROWS of group i hands over workgroup row i GROUP_ROWS + r, the other lanes
// the index ROWS (nothing to store); every invocation reaches the store's barrier.

// Rows per workgroup: (WG / LANES) * GROUP_ROWS (matvec_store*.wgsl's ROWS).
override ROWS: u32 = 16u;
// matvec_store_norm.wgsl's bound on ROWS.
const MAX_ROWS: u32 = 32u;
// Workgroups per row block, each over its own run of the chunks (1: one over all of them).
override SPLIT: u32 = 1u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  gemv_input(lid);
  let at = group_pos(lid);
  let row0 = wid.x * ROWS;
  let grow0 = row0 + at.group * GROUP_ROWS;
  let last = params.rows - 1u;
  let nchunks = params.k / CHUNK;
  let run = (nchunks + SPLIT - 1u) / SPLIT;
  let c0 = wid.y * run;
  let c1 = min(nchunks, c0 + run);
  var acc: array<f32, NACC>;
  for (var c = c0 + at.lane; c < c1; c += LANES) {
    var v: array<vec4<f32>, CHUNK_VECS>;
    for (var j = 0u; j < CHUNK_VECS; j++) {
      v[j] = x[chunk_vec(c, j)];
    }
    let xc = prep_x(v);
    for (var r = 0u; r < GROUP_ROWS; r++) {
      acc[r] += chunk_dot(min(grow0 + r, last), c, xc);
    }
  }
  let tot = reduce_group(lid, acc);
  var j = ROWS;
  if (at.lane < GROUP_ROWS) {
    j = at.group * GROUP_ROWS + at.lane;
  }
  store_rows(wid.x, j, row0, pick(tot, at.lane));
}
