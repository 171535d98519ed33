// Attention, split-K pass for one decoded token with RoPE and the KV append fused in: the same
// partials as attention_decode.wgsl, but q, k and v come raw from the QKV projection instead of
// from rope_kv.wgsl, saving that dispatch per layer. rope_common.wgsl (prepended) rotates them
// exactly as rope_kv.wgsl does, so the cache holds the same bits either way.
//
// The step has one token at pos = step.pos0 (the engine uses it for M = 1 only). Workgroup
// (chunk c, head h):
//   - rotates q_h (times scale) into workgroup memory;
//   - if its chunk holds pos: rotates k and takes v of kv head h / group for position pos,
//     rounded to f16 exactly as the cache stores them, and uses these for key pos instead of the
//     cache; the first query head of each kv head (h % group == 0) also writes them to the cache.
// No workgroup reads cache row pos, so the writes race with nothing; rows < pos were written by
// earlier steps (ordered before this dispatch).
//
// Bindings (group 0):
//   0  qkv      storage, read        array<f32>        [(nHeads + 2 nKvHeads) * HD]  Q | K | V (raw)
//   1  factors  storage, read        array<f32>        [ropeDim/2]  LongRoPE factors (ones when absent)
//   2  kCache   storage, read_write  array<u32>        [nKvHeads, maxCtx, HD/2]  f16 pairs; row pos written
//   3  vCache   storage, read_write  array<u32>        [nKvHeads, maxCtx, HD/2]  f16 pairs; row pos written
//   4  partO    storage, read_write  array<f32>        [1, nHeads, maxChunks, HD]
//   5  partML   storage, read_write  array<vec2<f32>>  [1, nHeads, maxChunks]
//   6  step     uniform  Step (struct prepended from src/kernels/step.ts)
//   7  params   uniform  Params (attention, src/kernels/attention.ts)
//   8  rope     uniform  RopeParams (the rope_kv uniform buffer, src/kernels/rope_kv.ts)
// Dispatch: (count, nHeads, 1) workgroups of WG threads, count as in attention_decode.wgsl; then
// attention_merge.wgsl.

override HD: u32 = 96u;
override CHUNK: u32 = 256u;
override WG: u32 = 128u;

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

struct RopeParams {
  nHeads: u32,
  nKvHeads: u32,
  headDim: u32,
  ropeDim: u32,
  maxCtx: u32,
  thetaScale: f32,
  attnFactor: f32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> factors: array<f32>;
@group(0) @binding(2) var<storage, read_write> kCache: array<u32>;
@group(0) @binding(3) var<storage, read_write> vCache: array<u32>;
@group(0) @binding(4) var<storage, read_write> partO: array<f32>;
@group(0) @binding(5) var<storage, read_write> partML: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> rope: RopeParams;

// (cos, sin) per rotated pair; ropeDim/2 <= HD/2 <= HD entries.
var<workgroup> table: array<vec2<f32>, HD>;
var<workgroup> qs: array<f32, HD>;
// The new key and value as the f16 pairs the cache stores (read back through unpack2x16float
// like any cached row, which also keeps the compiler from folding the f16 rounding away).
var<workgroup> kNew: array<u32, HD>;
var<workgroup> vNew: array<u32, HD>;
var<workgroup> p: array<f32, CHUNK>;
var<workgroup> red: array<f32, WG>;
var<workgroup> acc: array<vec2<f32>, WG>;

fn ropeSrc(i: u32) -> f32 {
  return qkv[i];
}

fn windowStart(pos: u32) -> u32 {
  if (params.window == 0u || pos < params.window) {
    return 0u;
  }
  return pos + 1u - params.window;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let pos = step.pos0;
  let j0 = (windowStart(pos) / CHUNK + wid.x) * CHUNK;
  let lo = max(windowStart(pos), j0);
  let hi = min(pos + 1u, j0 + CHUNK); // visible keys of this chunk: [lo, hi)
  let slot = h * params.maxChunks + wid.x;
  if (lo >= hi) {
    for (var d = lid; d < HD; d += WG) {
      partO[slot * HD + d] = 0.0;
    }
    if (lid == 0u) {
      partML[slot] = vec2<f32>(NEG, 0.0);
    }
    return;
  }

  let NW = HD / 2u;
  let group = params.nHeads / params.nKvHeads;
  let kvh = h / group;
  let base = kvh * params.maxCtx * NW;
  let hasNew = hi == pos + 1u;

  // 0. RoPE: the (cos, sin) table for pos, then q (scaled) and, in the chunk holding pos, k and v.
  for (var i = lid; i < rope.ropeDim / 2u; i += WG) {
    table[i] = cosSinScaled(pos, i, rope.thetaScale, rope.attnFactor);
  }
  workgroupBarrier();
  let kSrc = (params.nHeads + kvh) * HD;
  let vSrc = (params.nHeads + params.nKvHeads + kvh) * HD;
  for (var d = lid; d < HD; d += WG) {
    qs[d] = rotated(h * HD, d, rope.ropeDim) * params.scale;
  }
  if (hasNew) {
    for (var w = lid; w < NW; w += WG) {
      kNew[w] = pack2x16float(vec2<f32>(rotated(kSrc, 2u * w, rope.ropeDim), rotated(kSrc, 2u * w + 1u, rope.ropeDim)));
      vNew[w] = pack2x16float(vec2<f32>(qkv[vSrc + 2u * w], qkv[vSrc + 2u * w + 1u]));
    }
  }
  workgroupBarrier();
  if (hasNew && h % group == 0u) {
    for (var w = lid; w < NW; w += WG) {
      kCache[base + pos * NW + w] = kNew[w];
      vCache[base + pos * NW + w] = vNew[w];
    }
  }

  // 1. Scores, and their max (same summation order as attention_decode.wgsl for every key).
  var mx = NEG;
  for (var j = lo + lid; j < hi; j += WG) {
    var s = 0.0;
    if (j == pos) {
      for (var w = 0u; w < NW; w++) {
        let k = unpack2x16float(kNew[w]);
        s += qs[2u * w] * k.x + qs[2u * w + 1u] * k.y;
      }
    } else {
      let row = base + j * NW;
      for (var w = 0u; w < NW; w++) {
        let k = unpack2x16float(kCache[row + w]);
        s += qs[2u * w] * k.x + qs[2u * w + 1u] * k.y;
      }
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
      var v: vec2<f32>;
      if (j == pos) {
        v = unpack2x16float(vNew[w]);
      } else {
        v = unpack2x16float(vCache[base + j * NW + w]);
      }
      a += p[j - j0] * v;
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
