// Attention, split-K pass for steps of few tokens, 'lanes' variant: the same chunks, partials and
// dispatch as attention_decode.wgsl, with the work laid out along the head dimension
// (attention_lanes.wgsl): lanes load vectors of a key or value row, so a subgroup reads whole
// rows contiguously. attention_merge.wgsl combines the partials.
//
// Bindings (group 0): as attention_decode.wgsl, with the cache read by vector:
//   0  q       storage, read        array<f32>        [M, nHeads * HD]
//   1  kCache  storage, read        array<KVC>        [nKvHeads, maxCtx, kvRowStride()]  f16: NV vectors of VW f16 pairs; q8_0: u32 words
//   2  vCache  storage, read        array<KVC>        [nKvHeads, maxCtx, kvRowStride()]
//   3  partO   storage, read_write  array<f32>        [M, nHeads, maxChunks, HD]
//   4  partML  storage, read_write  array<vec2<f32>>  [M, nHeads, maxChunks]
//   5  step    uniform  Step
//   6  params  uniform  Params
// Dispatch: (count, nHeads, M) workgroups of WG threads, count as in attention_decode.wgsl.
// Module: see attention_lanes.wgsl; attention_decode_query.wgsl comes right after this file.

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kCache: array<KVC>;
@group(0) @binding(2) var<storage, read> vCache: array<KVC>;
@group(0) @binding(3) var<storage, read_write> partO: array<f32>;
@group(0) @binding(4) var<storage, read_write> partML: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> qs: array<f32, HD>;

fn keyVec(base: u32, j: u32, v: u32) -> KV {
  return cacheKeyVec(base, j, v);
}

fn valueVec(base: u32, j: u32, v: u32) -> KV {
  return cacheValueVec(base, j, v);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: LaneIds) {
  let lid = ids.lid;
  let c = queryChunk(lid, wid);
  if (c.seen.n == 0u) {
    return;
  }
  let base = (wid.y / (params.nHeads / params.nKvHeads)) * params.maxCtx * kvRowStride();
  chunkPartialsLanes(ids, c.slot, base, c.seen);
}
