// RMSNorm fused into the decode matrix-vector product that follows it:
//   y[y_offset + r] (+)= sum_k W[r, k] * (x[k] * inv_rms * g[k]),
//   inv_rms = 1 / sqrt(sum_k x[k]^2 / k + eps)
// for the rows r of one weight tensor, or of one row-range part of a split tensor. Replaces an
// rmsnorm dispatch plus the matvec reading its output (attn_norm + qkv, ffn_norm + ffn_down's
// sibling projections, output_norm + lm_head).
//
// Module = quant_common.wgsl + weights_<type>.wgsl + this file + reduce_{tree,subgroup}.wgsl.
// Bindings (group 0):
//   0  wq      storage, read       array<vec4<u32>>  repacked weight rows [rows, k] (weights_<type>.wgsl)
//   1  ws      storage, read       array<u32>        f16 d pairs (Q4_0, Q8_0, Q6_K only)
//   2  x       storage, read       array<vec4<f32>>  [k]  the un-normalized activations
//   3  y       storage, read_write array<f32>        [>= y_offset + rows]  (may not alias x)
//   4  params  uniform             { k, rows, y_offset, accumulate, eps }
//   5  g       storage, read       array<vec4<f32>>  [k]  the norm weight; with PRESCALED, the
//                                                       writer's sums of squares [parts4] (below)
// Dispatch: (ceil(rows / (ROWS - 1)), 1, 1) workgroups of WG threads.
//
// As matvec.wgsl, a workgroup owns ROWS - 1 consecutive rows and its threads stride over the
// chunks of x, covering all of x exactly once: so each workgroup also gets sum x^2 over the
// whole of x from the values it loads anyway, reduced as one extra row (row ROWS - 1) with the
// same reduction. The dot products use x * g; the norm scale is linear and applied to the
// reduced sums: sum_k W (x g inv_rms) = inv_rms * sum_k W (x g). Every thread reads the reduced
// sum of squares itself (reduced_row), so the norm costs no barrier beyond the reduction's.
// On lavapipe this kernel still cost 1.3-1.9x the plain matvec's CPU time in our runs (the g
// loads are per-lane gathers like the x loads): there rmsnorm + matvec is faster
// (src/kernels/tuning.ts fuseDecodeNorm).

// PRESCALED: x is already x * g and the sum of x^2 comes in parts (binding 5: the partial sums a
// matvec_store_norm.wgsl dispatch wrote, params.parts4 vec4 of them): no g loads, no squaring.
// Same result up to the order of the f32 additions in sum x^2.
override PRESCALED: bool = false;

override WG: u32 = 64u;
// Output rows per workgroup plus one (the sum of squares), at most MAX_ROWS.
override ROWS: u32 = 17u;
const MAX_ROWS: u32 = 33u;

struct Params {
  k: u32,
  rows: u32,
  y_offset: u32,
  // 1: add to y (a residual add), 0: overwrite it
  accumulate: u32,
  eps: f32,
  // PRESCALED: vec4s of partial sums of squares at binding 5
  parts4: u32,
}

@group(0) @binding(0) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read> g: array<vec4<f32>>;

var<workgroup> red: array<f32, ROWS * WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: ReduceIds) {
  let lid = ids.lid;
  let nrows = ROWS - 1u;
  let row0 = wid.x * nrows;
  // Rows this workgroup really has, a run-time bound: the row loop stays rolled (unrolled row
  // loops measured 2-7x slower on lavapipe) and rows past the end are not computed (their acc
  // stays 0 and is never written).
  let nlive = min(nrows, params.rows - row0);
  let nchunks = params.k / CHUNK;
  var acc: array<f32, MAX_ROWS>;
  var sq = vec4<f32>();
  for (var c = lid; c < nchunks; c += WG) {
    var v: array<vec4<f32>, CHUNK_VECS>;
    for (var j = 0u; j < CHUNK_VECS; j++) {
      let i = chunk_vec(c, j);
      let xv = x[i];
      if (PRESCALED) {
        v[j] = xv;
      } else {
        sq += xv * xv;
        v[j] = xv * g[i];
      }
    }
    let xc = prep_x(v);
    for (var r = 0u; r < nlive; r++) {
      acc[r] += chunk_dot(row0 + r, c, xc);
    }
  }
  if (PRESCALED) {
    for (var p = lid; p < params.parts4; p += WG) {
      sq += g[p];
    }
  }
  acc[nrows] = hsum(sq);
  let total = reduce_rows(ids, acc);
  // every thread reads the sum of squares row itself: no second barrier
  let inv_rms = inverseSqrt(reduced_row(ids, nrows) / f32(params.k) + params.eps);
  if (lid < nlive) {
    let i = params.y_offset + row0 + lid;
    let v = total * inv_rms;
    if (params.accumulate != 0u) {
      y[i] += v;
    } else {
      y[i] = v;
    }
  }
}
