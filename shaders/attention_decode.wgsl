// Attention, split-K pass ("flash-decoding") for steps of few tokens: the visible keys are cut
// into chunks of CHUNK positions, one workgroup per (chunk, head, token) computes the chunk's
// softmax statistics and its unnormalized weighted V; attention_merge.wgsl combines the chunks.
//
// Query row m sits at position pos = step.pos0 + m and sees keys j with
//   j <= pos  and  (window == 0 or pos - j < window)                  (PHI3.md 2.4)
// scores s_j = (q . k_j) * scale. GQA: query head h reads kv head h / (nHeads / nKvHeads).
// Per (m, h, chunk) it writes, over the chunk's visible keys:
//   partML[slot] = (mc, lc)   mc = max s_j,  lc = sum exp(s_j - mc)
//   partO[slot]  = sum exp(s_j - mc) v_j   (HD floats)
// or (NEG, 0) and zeros when no key of the chunk is visible to row m.
// Chunks are counted from first = windowStart(pos0) / CHUNK, so chunks wholly before every row's
// window are never dispatched: chunk c of the dispatch covers keys [(first + c) CHUNK, +CHUNK).
//
// Bindings (group 0):
//   0  q       storage, read        array<f32>        [M, nHeads * HD]
//   1  kCache  storage, read        array<u32>        [nKvHeads, maxCtx, HD/2]  f16 pairs
//   2  vCache  storage, read        array<u32>        [nKvHeads, maxCtx, HD/2]  f16 pairs
//   3  partO   storage, read_write  array<f32>        [M, nHeads, maxChunks, HD]
//   4  partML  storage, read_write  array<vec2<f32>>  [M, nHeads, maxChunks]
//   5  step    uniform  Step (struct prepended from src/kernels/step.ts; wg_max/wg_sum from workgroup_reduce.wgsl)
//   6  params  uniform  Params
// Dispatch: (count, nHeads, M) workgroups of WG threads, count = last - first + 1 chunks with
// last = (kvLen - 1) / CHUNK (src/kernels/attention.ts: decodeChunks).
// Threads: scores one key per thread (strided), tree reductions for max and sum, then
// WG / (HD/2) groups of HD/2 threads each sum p_j v_j over a share of the keys, two dims a thread.

override HD: u32 = 96u;
override CHUNK: u32 = 256u;
override WG: u32 = 128u;

// Finite stand-in for -inf: exp(NEG - x) underflows to 0 without an infinity anywhere.
const NEG: f32 = -1.0e30;

struct Params {
  nHeads: u32,
  nKvHeads: u32,
  maxCtx: u32,
  window: u32,
  scale: f32,
  maxChunks: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kCache: array<u32>;
@group(0) @binding(2) var<storage, read> vCache: array<u32>;
@group(0) @binding(3) var<storage, read_write> partO: array<f32>;
@group(0) @binding(4) var<storage, read_write> partML: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> qs: array<f32, HD>;
var<workgroup> p: array<f32, CHUNK>;
var<workgroup> red: array<f32, WG>;
var<workgroup> acc: array<vec2<f32>, WG>;

fn windowStart(pos: u32) -> u32 {
  if (params.window == 0u || pos < params.window) {
    return 0u;
  }
  return pos + 1u - params.window;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let m = wid.z;
  if (m >= step.nTokens) {
    return;
  }
  let pos = step.pos0 + m;
  let j0 = (windowStart(step.pos0) / CHUNK + wid.x) * CHUNK;
  let lo = max(windowStart(pos), j0);
  let hi = min(pos + 1u, j0 + CHUNK); // visible keys of this chunk: [lo, hi)
  let slot = (m * params.nHeads + h) * params.maxChunks + wid.x;
  if (lo >= hi) {
    for (var d = lid; d < HD; d += WG) {
      partO[slot * HD + d] = 0.0;
    }
    if (lid == 0u) {
      partML[slot] = vec2<f32>(NEG, 0.0);
    }
    return;
  }

  for (var d = lid; d < HD; d += WG) {
    qs[d] = q[(m * params.nHeads + h) * HD + d] * params.scale;
  }
  workgroupBarrier();

  let NW = HD / 2u;
  let base = (h / (params.nHeads / params.nKvHeads)) * params.maxCtx * NW;

  // 1. Scores, and their max.
  var mx = NEG;
  for (var j = lo + lid; j < hi; j += WG) {
    let row = base + j * NW;
    var s = 0.0;
    for (var w = 0u; w < NW; w++) {
      let k = unpack2x16float(kCache[row + w]);
      s += qs[2u * w] * k.x + qs[2u * w + 1u] * k.y;
    }
    p[j - j0] = s;
    mx = max(mx, s);
  }
  let mc = wg_max(lid, mx);

  // 2. Weights exp(s - mc), and their sum.
  var sum = 0.0;
  for (var j = lo + lid; j < hi; j += WG) {
    let e = exp(p[j - j0] - mc);
    p[j - j0] = e;
    sum += e;
  }
  let lc = wg_sum(lid, sum);

  // 3. sum_j p_j v_j: group g takes keys lo + g, lo + g + groups, ...; thread w two dims.
  let groups = WG / NW;
  let g = lid / NW;
  let w = lid % NW;
  var a = vec2<f32>(0.0);
  if (g < groups) {
    for (var j = lo + g; j < hi; j += groups) {
      a += p[j - j0] * unpack2x16float(vCache[base + j * NW + w]);
    }
  }
  acc[lid] = a;
  workgroupBarrier();
  if (lid < NW) {
    var o = vec2<f32>(0.0);
    for (var gg = 0u; gg < groups; gg++) {
      o += acc[gg * NW + lid];
    }
    partO[slot * HD + 2u * lid] = o.x;
    partO[slot * HD + 2u * lid + 1u] = o.y;
  }
  if (lid == 0u) {
    partML[slot] = vec2<f32>(mc, lc);
  }
}
