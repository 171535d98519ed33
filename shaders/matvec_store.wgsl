// matvec.wgsl's epilogue: thread lid < ROWS writes (or adds, params.accumulate) row row0 + lid.

fn store_rows(wg: u32, lid: u32, row0: u32, total: f32) {
  if (lid < ROWS && row0 + lid < params.rows) {
    let i = params.y_offset + row0 + lid;
    if (params.accumulate != 0u) {
      y[i] += total;
    } else {
      y[i] = total;
    }
  }
}
