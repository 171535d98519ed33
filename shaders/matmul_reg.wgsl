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
// thread (multiples of 4); `tile_t`, the element type of the workgroup tiles (f32, or f16 with
// shader-f16: the weights and activations are rounded to f16 there, the sums stay f32).
//
// Order of the workgroups: x walks the token tiles, y the row tiles, so consecutive workgroup ids
// share one weight-row tile. Weights are the large operand (a Phi-3 projection is megabytes;
// all the activations of a 128-token step are one or two MB and stay in L2 throughout), so the
// workgroups that run side by side fetch a weight tile from memory once and hit L2 for the rest.
//
// Per 64-element k tile (whole chunks of every format), the workgroup (1) dequantizes its TR rows'
// chunks once into `wt` and (2) stages its TM tokens' activations into `xt`, both k-major: k-row
// kk holds the tile's rows (tokens) side by side, in the chunk order of dequant_chunk /
// chunk_vec. Then (3) each thread, for every kk, reads RR / 4 vec4 of weights and RT / 4 vec4 of
// activations and does RR * RT multiply-adds into its f32 register tile.
// Bank conflicts: a thread's row quads are rq, rq + QR, ... (not adjacent), so in each vec4 read
// consecutive threads read consecutive vec4 (and the threads of a subgroup mostly share tq, whose
// activation vec4 is a broadcast): conflict-free for any RR. A tile store writes one element of
// consecutive rows (tokens) to consecutive words. Where a subgroup is wider than the tile (TM = 16
// with 32 lanes), one store instruction spans two x vec4 of the tile, 4 k-rows apart; the k-row
// pad of one vec4 puts the second group 16 words further (f32; 8 with f16), on banks the first
// group does not use.
// (For wt the second group is a chunk, CHUNK k-rows further, where the pad cannot help: keep TR
// at least the subgroup width.)
// Rows past the end are clamped (computed, never written); tokens past m and chunks past k are
// zeros.

const TK: u32 = 64u;
const TKV: u32 = TK / 4u;
const NC: u32 = TK / CHUNK;
const QR: u32 = TR / RR;
const QT: u32 = TM / RT;
const NT: u32 = QR * QT;
const SW: u32 = TR / 4u + 1u;
const SX: u32 = TM / 4u + 1u;
// accumulators: acc[j * RT + 4 s + c] = rows of row quad j, token c of token quad s
const NA: u32 = (RR / 4u) * RT;

var<workgroup> wt: array<vec4<tile_t>, TK * SW>;
var<workgroup> xt: array<vec4<tile_t>, TK * SX>;

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
  var acc: array<vec4<f32>, NA>;
  for (var c0 = 0u; c0 < nchunks; c0 += NC) {
    workgroupBarrier();
    // (1) chunk c of row r -> k-rows c * CHUNK .. + CHUNK, column r; consecutive threads take consecutive rows
    for (var i = lid; i < TR * NC; i += NT) {
      let r = i % TR;
      let c = i / TR;
      let at = c * CHUNK * SW + r / 4u;
      if (c0 + c < nchunks) {
        let w = dequant_chunk(min(row0 + r, params.rows - 1u), c0 + c);
        for (var j = 0u; j < CHUNK_VECS; j++) {
          for (var e = 0u; e < 4u; e++) {
            wt[at + (4u * j + e) * SW][r % 4u] = tile_t(w[j][e]);
          }
        }
      } else {
        for (var e = 0u; e < CHUNK; e++) {
          wt[at + e * SW][r % 4u] = tile_t(0.0);
        }
      }
    }
    // (2) x vec4 v of the tile for token t -> k-rows 4 v .. + 4, column t; consecutive threads take consecutive tokens
    for (var i = lid; i < TM * TKV; i += NT) {
      let t = i % TM;
      let v = i / TM;
      let m = m0 + t;
      let c = c0 + v / CHUNK_VECS;
      var val = vec4<f32>(0.0);
      if (m < params.m && c < nchunks) {
        val = x[m * kv + chunk_vec(c, v % CHUNK_VECS)];
      }
      for (var e = 0u; e < 4u; e++) {
        xt[(4u * v + e) * SX + t / 4u][t % 4u] = tile_t(val[e]);
      }
    }
    workgroupBarrier();
    // (3) the register tile; every loop bound is a constant
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<vec4<f32>, RR / 4u>;
      for (var j = 0u; j < RR / 4u; j++) {
        a[j] = vec4<f32>(wt[kk * SW + rq + j * QR]);
      }
      for (var s = 0u; s < RT / 4u; s++) {
        let b = vec4<f32>(xt[kk * SX + tq + s * QT]);
        for (var j = 0u; j < RR / 4u; j++) {
          let n = j * RT + 4u * s;
          acc[n] += a[j] * b.x;
          acc[n + 1u] += a[j] * b.y;
          acc[n + 2u] += a[j] * b.z;
          acc[n + 3u] += a[j] * b.w;
        }
      }
    }
  }
  for (var j = 0u; j < RR / 4u; j++) {
    let r = row0 + 4u * (rq + j * QR);
    for (var s = 0u; s < RT / 4u; s++) {
      for (var c = 0u; c < 4u; c++) {
        let m = m0 + 4u * (tq + s * QT) + c;
        let v = acc[j * RT + 4u * s + c];
        store_y(m, r, v.x);
        store_y(m, r + 1u, v.y);
        store_y(m, r + 2u, v.z);
        store_y(m, r + 3u, v.w);
      }
    }
  }
}
