// Matrix-matrix product for M tokens (prefill), each weight dequantized once per TM tokens:
//   Y[m, y_offset + r] = sum_k W[r, k] * X[m, k]      (params.accumulate != 0: Y[m, y_offset + r] += ...)
//
// Module = quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + this file.
// Bindings: linear_bindings.wgsl's, with x [m, k], y [m, y_stride] (this part's rows at
//           y_offset) and params { k, rows, m, y_stride, y_offset, accumulate }.
// Dispatch: (ceil(rows / TR), ceil(m / TM), 1) workgroups of (TR / 8) * (TM / 4) threads.
//
// A workgroup owns TR rows x TM tokens and walks k in tiles of TKV vec4 (64 elements = whole
// chunks of every format). Per tile it (1) dequantizes the TR rows' chunks into `wt`, in chunk
// order, (2) stages the TM tokens' activations into `xt` in the same order (chunk_vec), then
// (3) each thread accumulates an 8-row x 4-token block in eight vec4 registers: per vec4 of
// the tile, 12 workgroup-memory loads feed 32 dot products.
// Rows past the end are clamped (computed, not written); tokens past m and chunks past k
// are zeros.

// Rows (a multiple of 8) and tokens (a multiple of 4) per workgroup; (TR / 8) * (TM / 4) threads.
override TR: u32 = 32u;
override TM: u32 = 16u;
// K tile in vec4 (64 elements); NC chunks of this format per tile.
const TKV: u32 = 16u;
const NC: u32 = TKV / CHUNK_VECS;

struct Params {
  k: u32,
  rows: u32,
  m: u32,
  y_stride: u32,
  y_offset: u32,
  // 1: add to y (the residual add fused into a projection), 0: overwrite it
  accumulate: u32,
}

var<workgroup> wt: array<vec4<f32>, TR * TKV>;
var<workgroup> xt: array<vec4<f32>, TM * TKV>;

@compute @workgroup_size((TR / 8u) * (TM / 4u))
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let nthreads = (TR / 8u) * (TM / 4u);
  let row0 = wid.x * TR;
  let m0 = wid.y * TM;
  let kv = params.k / 4u;
  let nchunks = params.k / CHUNK;
  // this thread's block: rows row0 + 8 rq .. + 8, tokens m0 + 4 tq .. + 4;
  // acc<2t>[i] = (row i, token t), acc<2t+1>[i] = (row 4 + i, token t)
  let rq = lid % (TR / 8u);
  let tq = lid / (TR / 8u);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);
  // TKV, but from a uniform, so the tile loop below stays a loop: unrolled (16 x 12 workgroup
  // loads) it made lavapipe's LLVM take seconds per pipeline, for no speed gain.
  let nv = select(TKV, 0u, params.k == 0u);
  for (var c0 = 0u; c0 < nchunks; c0 += NC) {
    workgroupBarrier();
    for (var i = lid; i < TR * NC; i += nthreads) {
      let c = c0 + i % NC;
      let base = (i / NC) * TKV + (i % NC) * CHUNK_VECS;
      if (c < nchunks) {
        let w = dequant_chunk(min(row0 + i / NC, params.rows - 1u), c);
        for (var j = 0u; j < CHUNK_VECS; j++) {
          wt[base + j] = w[j];
        }
      } else {
        for (var j = 0u; j < CHUNK_VECS; j++) {
          wt[base + j] = vec4<f32>(0.0);
        }
      }
    }
    for (var i = lid; i < TM * TKV; i += nthreads) {
      let m = m0 + i / TKV;
      let c = c0 + (i % TKV) / CHUNK_VECS;
      var val = vec4<f32>(0.0);
      if (m < params.m && c < nchunks) {
        val = x[m * kv + chunk_vec(c, i % CHUNK_VECS)];
      }
      xt[i] = val;
    }
    workgroupBarrier();
    let wr = 8u * rq * TKV;
    let xr = 4u * tq * TKV;
    var p0 = vec4<f32>(0.0);
    var p1 = vec4<f32>(0.0);
    var p2 = vec4<f32>(0.0);
    var p3 = vec4<f32>(0.0);
    var p4 = vec4<f32>(0.0);
    var p5 = vec4<f32>(0.0);
    var p6 = vec4<f32>(0.0);
    var p7 = vec4<f32>(0.0);
    for (var v = 0u; v < nv; v++) {
      let w0 = wt[wr + v];
      let w1 = wt[wr + TKV + v];
      let w2 = wt[wr + 2u * TKV + v];
      let w3 = wt[wr + 3u * TKV + v];
      let w4 = wt[wr + 4u * TKV + v];
      let w5 = wt[wr + 5u * TKV + v];
      let w6 = wt[wr + 6u * TKV + v];
      let w7 = wt[wr + 7u * TKV + v];
      let x0 = xt[xr + v];
      let x1 = xt[xr + TKV + v];
      let x2 = xt[xr + 2u * TKV + v];
      let x3 = xt[xr + 3u * TKV + v];
      p0 += vec4<f32>(dot(w0, x0), dot(w1, x0), dot(w2, x0), dot(w3, x0));
      p1 += vec4<f32>(dot(w4, x0), dot(w5, x0), dot(w6, x0), dot(w7, x0));
      p2 += vec4<f32>(dot(w0, x1), dot(w1, x1), dot(w2, x1), dot(w3, x1));
      p3 += vec4<f32>(dot(w4, x1), dot(w5, x1), dot(w6, x1), dot(w7, x1));
      p4 += vec4<f32>(dot(w0, x2), dot(w1, x2), dot(w2, x2), dot(w3, x2));
      p5 += vec4<f32>(dot(w4, x2), dot(w5, x2), dot(w6, x2), dot(w7, x2));
      p6 += vec4<f32>(dot(w0, x3), dot(w1, x3), dot(w2, x3), dot(w3, x3));
      p7 += vec4<f32>(dot(w4, x3), dot(w5, x3), dot(w6, x3), dot(w7, x3));
    }
    // per-tile partial sums keep every term's rounding path short (16 + one add per tile)
    acc0 += p0;
    acc1 += p1;
    acc2 += p2;
    acc3 += p3;
    acc4 += p4;
    acc5 += p5;
    acc6 += p6;
    acc7 += p7;
  }
  // acc[q] holds rows 4 (q % 2) .. + 4 of the block for token q / 2. The bound is 8, from the
  // uniform `nv` like the tile loop: unrolled, these 32 guarded stores tripled the JIT time.
  let acc = array<vec4<f32>, 8>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7);
  for (var q = 0u; q < nv / 2u; q++) {
    let m = m0 + 4u * tq + q / 2u;
    let r = row0 + 8u * rq + 4u * (q % 2u);
    for (var i = 0u; i < 4u; i++) {
      if (m < params.m && r + i < params.rows) {
        let o = m * params.y_stride + params.y_offset + r + i;
        if (params.accumulate != 0u) {
          y[o] += acc[q][i];
        } else {
          y[o] = acc[q][i];
        }
      }
    }
  }
}
