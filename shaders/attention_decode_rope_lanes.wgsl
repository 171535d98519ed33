// Attention, split-K pass for one decoded token with RoPE and the KV append fused in, 'lanes'
// variant: attention_decode_rope.wgsl's contract (same rotation through rope_common.wgsl, same
// f16 rounding, so the cache holds the same bits; key pos taken from workgroup memory, never
// from the cache row being written) over the lanes layout of attention_lanes.wgsl.
//
// Bindings (group 0): as attention_decode_rope.wgsl, with the cache read and written by vector:
//   0  qkv      storage, read        array<f32>        [(nHeads + 2 nKvHeads) * HD]  Q | K | V (raw)
//   1  factors  storage, read        array<f32>        [ropeDim/2]
//   2  kCache   storage, read_write  array<KV>         [nKvHeads, maxCtx, NV]  row pos written
//   3  vCache   storage, read_write  array<KV>         [nKvHeads, maxCtx, NV]  row pos written
//   4  partO    storage, read_write  array<f32>        [1, nHeads, maxChunks, HD]
//   5  partML   storage, read_write  array<vec2<f32>>  [1, nHeads, maxChunks]
//   6  step     uniform  Step
//   7  params   uniform  Params
//   8  rope     uniform  RopeParams
// Dispatch: (count, nHeads, 1) workgroups of WG threads; then attention_merge.wgsl.
// Module: see attention_lanes.wgsl; RopeParams + rope_common.wgsl come before this file.

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> factors: array<f32>;
@group(0) @binding(2) var<storage, read_write> kCache: array<KV>;
@group(0) @binding(3) var<storage, read_write> vCache: array<KV>;
@group(0) @binding(4) var<storage, read_write> partO: array<f32>;
@group(0) @binding(5) var<storage, read_write> partML: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> rope: RopeParams;

// (cos, sin) per rotated pair; ropeDim/2 <= HD/2 entries.
var<workgroup> table: array<vec2<f32>, NW>;
var<workgroup> qs: array<f32, HD>;
// The new key and value as the f16 pairs the cache stores.
var<workgroup> kNew: array<u32, NW>;
var<workgroup> vNew: array<u32, NW>;

fn kNewVec(v: u32) -> KV {
  var x: KV;
  for (var i = 0u; i < VW; i++) {
    x = kvWith(x, i, kNew[v * VW + i]);
  }
  return x;
}

fn vNewVec(v: u32) -> KV {
  var x: KV;
  for (var i = 0u; i < VW; i++) {
    x = kvWith(x, i, vNew[v * VW + i]);
  }
  return x;
}

fn keyVec(base: u32, j: u32, v: u32) -> KV {
  if (j == step.pos0) {
    return kNewVec(v);
  }
  return kCache[base + j * NV + v];
}

fn valueVec(base: u32, j: u32, v: u32) -> KV {
  if (j == step.pos0) {
    return vNewVec(v);
  }
  return vCache[base + j * NV + v];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: LaneIds) {
  let lid = ids.lid;
  let h = wid.y;
  let pos = step.pos0;
  let j0 = (windowStart(pos) / CHUNK + wid.x) * CHUNK;
  let lo = max(windowStart(pos), j0);
  let hi = min(pos + 1u, j0 + CHUNK); // visible keys of this chunk: [lo, hi)
  let slot = h * params.maxChunks + wid.x;
  if (lo >= hi) {
    emptyPartials(lid, slot);
    return;
  }

  let group = params.nHeads / params.nKvHeads;
  let kvh = h / group;
  let base = kvh * params.maxCtx * NV;
  let hasNew = hi == pos + 1u;

  // RoPE: the (cos, sin) table for pos, then q (scaled) and, in the chunk holding pos, k and v.
  ropeTable(lid, pos);
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
    for (var v = lid; v < NV; v += WG) {
      kCache[base + pos * NV + v] = kNewVec(v);
      vCache[base + pos * NV + v] = vNewVec(v);
    }
  }

  chunkPartialsLanes(ids, slot, base, lo, hi, j0);
}
