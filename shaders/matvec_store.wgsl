// matvec.wgsl's epilogue: thread lid < ROWS writes (or adds, params.accumulate) row row0 + lid.

fn store_rows(wg: u32, lid: u32, row0: u32, total: f32) {
  if (lid < ROWS && row0 + lid < params.rows) {
    store_y(params.y_offset + row0 + lid, total);
  }
}
