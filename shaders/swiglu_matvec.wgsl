// Phi-3's feed-forward input side in one dispatch: [RMSNorm +] gate/up projection + SwiGLU.
//   x' = x * inv_rms * g       (NORM; inv_rms = 1 / sqrt(sum_k x[k]^2 / k + eps)), else x' = x
//   a = sum_k W[r, k] x'[k]     (gate row r)
//   b = sum_k W[up_row + r, k] x'[k]   (up row r; up_row = ffn for the fused ffn_up weight)
//   h[y_offset + r] (+)= silu(a) * b     for r in 0 .. rows - 1  (rows = ffn)
// Replaces ffn_norm (rmsnorm) + ffn_up (matvec) + silu_mul. The gate and up rows must be in the
// same weight buffers (an unsplit ffn_up, or a part holding both row ranges).
//
// Module = quant_common.wgsl + weights_<type>.wgsl + this file + reduce_{tree,subgroup}.wgsl.
// Bindings (group 0):
//   0  wq      storage, read       array<vec4<u32>>  repacked weight rows (weights_<type>.wgsl)
//   1  ws      storage, read       array<u32>        f16 d pairs (Q4_0, Q8_0, Q6_K only)
//   2  x       storage, read       array<vec4<f32>>  [k]
//   3  h       storage, read_write array<f32>        [>= y_offset + rows]  (may not alias x)
//   4  params  uniform             { k, rows, y_offset, accumulate, eps, up_row, parts4 }
//   5  g       storage, read       array<vec4<f32>>  [k]  the norm weight (not read unless NORM);
//                                  with PRESCALED, the writer's sums of squares [parts4] (below)
// Dispatch: (ceil(rows / ((ROWS - 1) / 2)), 1, 1) workgroups of WG threads.
//
// A workgroup owns R = (ROWS - 1) / 2 output rows: it reads gate rows r0 .. r0 + R and up rows
// up_row + r0 .. + R, reusing each thread's x chunk for all 2R dot products (as matvec.wgsl).
// Reduction row 2R carries sum x^2 (see norm_matvec.wgsl); thread r gets its gate sum from the
// reduction and reads its up row's and the sum of squares with reduced_row (no second barrier).
// Rows past the end are skipped (the row loop runs over the rows that exist).

override WG: u32 = 64u;
// 2 * (output rows per workgroup) + 1, at most MAX_ROWS.
override ROWS: u32 = 17u;
const MAX_ROWS: u32 = 33u;
override NORM: bool = true;
// PRESCALED (with NORM): x is already x * g and the sum of x^2 comes in parts, as in norm_matvec.wgsl.
override PRESCALED: bool = false;

struct Params {
  k: u32,
  rows: u32,
  y_offset: u32,
  accumulate: u32,
  eps: f32,
  up_row: u32,
  // PRESCALED: vec4s of partial sums of squares at binding 5
  parts4: u32,
}

@group(0) @binding(0) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read> g: array<vec4<f32>>;

var<workgroup> red: array<f32, ROWS * WG>;

// As silu_mul.wgsl: x * sigmoid(x) with e = exp(-|x|) <= 1.
fn silu(v: f32) -> f32 {
  let e = exp(-abs(v));
  let sigmoid = select(e, 1.0, v >= 0.0) / (1.0 + e);
  return v * sigmoid;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: ReduceIds) {
  let lid = ids.lid;
  let nout = (ROWS - 1u) / 2u;
  let row0 = wid.x * nout;
  // Output rows this workgroup really has (a run-time bound: see norm_matvec.wgsl); dot product
  // r < nlive is gate row row0 + r, r = nout + i the up row of gate row row0 + i.
  let nlive = min(nout, params.rows - row0);
  let nchunks = params.k / CHUNK;
  var acc: array<f32, MAX_ROWS>;
  var sq = vec4<f32>();
  for (var c = lid; c < nchunks; c += WG) {
    var v: array<vec4<f32>, CHUNK_VECS>;
    for (var j = 0u; j < CHUNK_VECS; j++) {
      let i = chunk_vec(c, j);
      let xv = x[i];
      if (NORM && !PRESCALED) {
        sq += xv * xv;
        v[j] = xv * g[i];
      } else {
        v[j] = xv;
      }
    }
    let xc = prep_x(v);
    for (var r = 0u; r < nlive; r++) {
      acc[r] += chunk_dot(row0 + r, c, xc);
      acc[nout + r] += chunk_dot(params.up_row + row0 + r, c, xc);
    }
  }
  if (NORM && PRESCALED) {
    for (var p = lid; p < params.parts4; p += WG) {
      sq += g[p];
    }
  }
  acc[2u * nout] = hsum(sq);
  let total = reduce_rows(ids, acc);
  // each thread reads its up row and the sum of squares itself (reduced_row): no second barrier
  var s = 1.0;
  if (NORM) {
    s = inverseSqrt(reduced_row(ids, 2u * nout) / f32(params.k) + params.eps);
  }
  if (lid < nlive) {
    let a = total * s;
    let b = reduced_row(ids, nout + lid) * s;
    let out = silu(a) * b;
    let i = params.y_offset + row0 + lid;
    if (params.accumulate != 0u) {
      h[i] += out;
    } else {
      h[i] = out;
    }
  }
}
