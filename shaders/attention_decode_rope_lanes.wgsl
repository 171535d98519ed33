// Attention, split-K pass for one decoded token with RoPE and the KV append fused in, 'lanes'
// variant: attention_decode_rope.wgsl's contract (same rotation through rope_common.wgsl, same
// f16 rounding or q8_0 quantization, so the cache holds the same bits; key pos taken from workgroup memory, never
// from the cache row being written) over the lanes layout of attention_lanes.wgsl.
//
// Bindings (group 0): as attention_decode_rope.wgsl, with the cache read and written by vector:
//   0  qkv      storage, read        array<f32>        [(nHeads + 2 nKvHeads) * HD]  Q | K | V (raw)
//   1  factors  storage, read        array<f32>        [ropeDim/2]
//   2  kCache   storage, read_write  array<KVC>        [nKvHeads, maxCtx, kvRowStride()]  row pos written
//   3  vCache   storage, read_write  array<KVC>        [nKvHeads, maxCtx, kvRowStride()]  row pos written
//   4  partO    storage, read_write  array<f32>        [1, nHeads, maxChunks, HD]
//   5  partML   storage, read_write  array<vec2<f32>>  [1, nHeads, maxChunks]
//   6  step     uniform  Step
//   7  params   uniform  Params
//   8  rope     uniform  RopeParams
// Dispatch: (count, nHeads, 1) workgroups of WG threads; then attention_merge.wgsl.
// Module: see attention_lanes.wgsl; RopeParams + rope_common.wgsl + kv_q8_0_quant.wgsl +
// attention_decode_rope_common.wgsl + kv_lanes_new_f16.wgsl or kv_lanes_new_q8_0.wgsl (kNewVec,
// vNewVec, writeNewRow) come before this file.

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> factors: array<f32>;
@group(0) @binding(2) var<storage, read_write> kCache: array<KVC>;
@group(0) @binding(3) var<storage, read_write> vCache: array<KVC>;
@group(0) @binding(4) var<storage, read_write> partO: array<f32>;
@group(0) @binding(5) var<storage, read_write> partML: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> rope: RopeParams;

// (cos, sin) per rotated pair; ropeDim/2 <= HD/2 entries.
var<workgroup> table: array<vec2<f32>, NW>;
var<workgroup> qs: array<f32, HD>;
// The new key and value as the cache row stores them (f16 pairs, or q8_0 words).
var<workgroup> kNew: array<u32, NW>;
var<workgroup> vNew: array<u32, NW>;

fn keyVec(base: u32, j: u32, v: u32) -> KV {
  if (j == step.pos0) {
    return kNewVec(v);
  }
  return cacheKeyVec(base, j, v);
}

fn valueVec(base: u32, j: u32, v: u32) -> KV {
  if (j == step.pos0) {
    return vNewVec(v);
  }
  return cacheValueVec(base, j, v);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: LaneIds) {
  let lid = ids.lid;
  // RoPE: the (cos, sin) table for pos, then q (scaled) and, in the chunk holding pos, k and v;
  // the cache write of k and v by the first query head of each kv head, by vector.
  let r = ropeChunk(lid, wid.x, wid.y);
  let c = r.chunk;
  if (c.seen.n == 0u) {
    return;
  }
  let pos = step.pos0;
  let base = r.kvh * params.maxCtx * kvRowStride();
  if (r.writes) {
    writeNewRow(lid, base, pos);
  }

  chunkPartialsLanes(ids, c.slot, base, c.seen);
}
