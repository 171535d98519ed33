// The decode GEMVs' store of one output, after gemv_common.wgsl (every module but the split-K
// matvec's, whose y is atomic: matvec_store_split.wgsl).

// y[i] = v, or y[i] += v when params.accumulate.
fn store_y(i: u32, v: f32) {
  if (params.accumulate != 0u) {
    y[i] += v;
  } else {
    y[i] = v;
  }
}
