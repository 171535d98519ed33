// matvec.wgsl's epilogue for a residual projection (Wo, ffn_down) whose output the next decode
// GEMV reads through an RMSNorm (norm_matvec.wgsl / swiglu_matvec.wgsl with PRESCALED): besides
// y[i] (+)= total it writes what that norm needs, so the reader neither loads g nor squares x:
//   xg[i]        = y[i] * g[i]                (the new value times the norm weight)
//   partials[wg] = sum of y[i]^2 over this workgroup's rows
// Bindings (group 0), after gemv_common.wgsl's 0..4:
//   5  g         storage, read       array<f32>  [rows]  the next norm's weight
//   6  xg        storage, read_write array<f32>  [rows]
//   7  partials  storage, read_write array<f32>  [number of workgroups, padded to 4 with zeros]
// Only for a whole tensor written at y_offset 0 (xg and partials are indexed like y's rows).

@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> xg: array<f32>;
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;

var<workgroup> squares: array<f32, MAX_ROWS>;

fn store_rows(wg: u32, lid: u32, row0: u32, total: f32) {
  var sq = 0.0;
  if (lid < ROWS && row0 + lid < params.rows) {
    let i = params.y_offset + row0 + lid;
    var v = total;
    if (params.accumulate != 0u) {
      v += y[i];
    }
    y[i] = v;
    xg[i] = v * g[i];
    sq = v * v;
  }
  if (lid < ROWS) {
    squares[lid] = sq;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var r = 0u; r < ROWS; r++) {
      s += squares[r];
    }
    partials[wg] = s;
  }
}
