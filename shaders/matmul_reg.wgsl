// Register-tiled prefill GEMM, shaped for GPUs (the MatmulOptions.regTile variant):
//   Y[m, y_offset + r] = sum_k W[r, k] * X[m, k]      (params.accumulate != 0: Y[m, y_offset + r] += ...)
//
// Module = [enable f16;] quant_common.wgsl + weights_<type>.wgsl + linear_bindings.wgsl + the
// constants and Params that src/kernels/matmul-reg.ts writes + this file.
// Bindings: linear_bindings.wgsl's, the same as shaders/matmul.wgsl (x [m, k], y [m, y_stride],
//           params { k, rows, m, yStride, yOffset, accumulate }).
// Dispatch: (ceil(m / TM), ceil(rows / TR), 1) workgroups of NT = (TR / RR) * (TM / RT) threads.
//
// Constants (matmul-reg.ts): TR rows and TM tokens per workgroup; RR rows and RT tokens per
// thread (4 or 8); `tile_t`, the element type of the workgroup tiles (f32, or f16 with
// shader-f16: the weights and activations are rounded to f16 there, the sums stay f32).
//
// Order of the workgroups: x walks the token tiles, y the row tiles, so consecutive workgroup ids
// share one weight-row tile. Weights are the large operand (a Phi-3 projection is megabytes;
// all the activations of a 128-token step are one or two MB and stay in L2 throughout), so the
// workgroups that run side by side fetch a weight tile from memory once and hit L2 for the rest.
//
// Per 64-element k tile (whole chunks of every format), the workgroup (1) dequantizes its TR rows'
// chunks once into `wt` and (2) stages its TM tokens' activations into `xt`, each row (token) as
// the tile's 16 vec4 in the chunk order of dequant_chunk / chunk_vec, then (3) each thread, for
// every vec4 v of the tile, reads RR vec4 of weights and RT vec4 of activations and adds their
// RR x RT dot products into its f32 register tile. Every tile store and load is a whole vec4.
// (Component stores into workgroup vectors are not safe here: some backends write a component as
// a read-modify-write of the whole vector, which races with the neighbouring threads.)
// Bank conflicts: a row (token) takes 17 vec4, one more than the tile, so rows r and r + 1 are
// 17 vec4 apart: the vec4 that consecutive threads store or load (consecutive rows, the same v)
// fall on distinct banks in each 8-lane phase of a 128-bit access (f16: 17 x 8 bytes, distinct in
// each 16-lane phase of a 64-bit access). A thread's rows are rq, rq + QR,
// ... and consecutive threads have consecutive rq; the threads of a subgroup mostly share tq, so
// their activation loads are broadcasts. The activation stores go vec4 after vec4 along a token
// (consecutive threads, consecutive addresses) and read x in 256-byte runs.
// Rows past the end are clamped (computed, never written); tokens past m and chunks past k are
// zeros.

const TK: u32 = 64u;
const TKV: u32 = TK / 4u;
const NC: u32 = TK / CHUNK;
const QR: u32 = TR / RR;
const QT: u32 = TM / RT;
const NT: u32 = QR * QT;
// vec4 per row of wt and per token of xt: the tile plus one
const S: u32 = TKV + 1u;

var<workgroup> wt: array<vec4<tile_t>, TR * S>;
var<workgroup> xt: array<vec4<tile_t>, TM * S>;

fn store_y(m: u32, r: u32, v: f32) {
  if (m < params.m && r < params.rows) {
    let o = m * params.yStride + params.yOffset + r;
    if (params.accumulate != 0u) {
      y[o] += v;
    } else {
      y[o] = v;
    }
  }
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.x * TM;
  let row0 = wid.y * TR;
  let kv = params.k / 4u;
  let nchunks = params.k / CHUNK;
  let rq = lid % QR;
  let tq = lid / QR;
  // acc[i * RT + j]: row row0 + rq + i * QR, token m0 + tq + j * QT
  var acc: array<f32, RR * RT>;
  for (var c0 = 0u; c0 < nchunks; c0 += NC) {
    workgroupBarrier();
    // (1) chunk c of row r -> wt[r * S + c * CHUNK_VECS ..]; consecutive threads take consecutive rows
    for (var i = lid; i < TR * NC; i += NT) {
      let r = i % TR;
      let c = i / TR;
      let at = r * S + c * CHUNK_VECS;
      if (c0 + c < nchunks) {
        let w = dequant_chunk(min(row0 + r, params.rows - 1u), c0 + c);
        for (var j = 0u; j < CHUNK_VECS; j++) {
          wt[at + j] = vec4<tile_t>(w[j]);
        }
      } else {
        for (var j = 0u; j < CHUNK_VECS; j++) {
          wt[at + j] = vec4<tile_t>(0.0);
        }
      }
    }
    // (2) vec4 v of the tile for token t -> xt[t * S + v]; consecutive threads take consecutive v
    for (var i = lid; i < TM * TKV; i += NT) {
      let t = i / TKV;
      let v = i % TKV;
      let m = m0 + t;
      let c = c0 + v / CHUNK_VECS;
      var val = vec4<f32>(0.0);
      if (m < params.m && c < nchunks) {
        val = x[m * kv + chunk_vec(c, v % CHUNK_VECS)];
      }
      xt[t * S + v] = vec4<tile_t>(val);
    }
    workgroupBarrier();
    // (3) the register tile; every loop bound is a constant
    for (var v = 0u; v < TKV; v++) {
      var a: array<vec4<f32>, RR>;
      for (var i = 0u; i < RR; i++) {
        a[i] = vec4<f32>(wt[(rq + i * QR) * S + v]);
      }
      for (var j = 0u; j < RT; j++) {
        let b = vec4<f32>(xt[(tq + j * QT) * S + v]);
        for (var i = 0u; i < RR; i++) {
          acc[i * RT + j] += dot(a[i], b);
        }
      }
    }
  }
  for (var j = 0u; j < RT; j++) {
    for (var i = 0u; i < RR; i++) {
      store_y(m0 + tq + j * QT, row0 + rq + i * QR, acc[i * RT + j]);
    }
  }
}
