// Row-sum reduction for matvec.wgsl without any optional feature: a workgroup-memory tree.
// reduce_rows returns, in thread r < ROWS, the sum over the workgroup of acc[r]. WG must be a
// power of two. log2(WG) levels; at each level all threads share the ROWS * s additions (one
// rolled loop, not a per-row loop per level: much less code for the driver to compile).

struct ReduceIds {
  @builtin(local_invocation_index) lid: u32,
}

fn reduce_rows(ids: ReduceIds, acc: array<f32, MAX_ROWS>) -> f32 {
  let lid = ids.lid;
  for (var r = 0u; r < ROWS; r++) {
    red[r * WG + lid] = acc[r];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    let sh = firstLeadingBit(s); // log2(s)
    for (var p = lid; p < ROWS * s; p += WG) {
      let i = (p >> sh) * WG + (p & (s - 1u));
      red[i] += red[i + s];
    }
    workgroupBarrier();
  }
  return red[min(lid, ROWS - 1u) * WG];
}

// After reduce_rows, in any thread: the workgroup sum of row r (r < ROWS). The fused kernels
// read their extra rows (the sum of squares, the up rows) this way, with no second barrier.
fn reduced_row(ids: ReduceIds, r: u32) -> f32 {
  return red[r * WG];
}
