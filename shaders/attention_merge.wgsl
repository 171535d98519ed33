// Attention, merge pass of the split-K path: combines the per-chunk partials written by
// attention_decode.wgsl into the softmax-weighted average
//   M = max_c mc,  L = sum_c lc exp(mc - M),  att = sum_c partO_c exp(mc - M) / L.
// The chunk count is derived from the Step exactly as the decode pass does.
//
// Bindings (group 0):
//   0  partO   storage, read        array<f32>        [M, nHeads, maxChunks, HD]
//   1  partML  storage, read        array<vec2<f32>>  [M, nHeads, maxChunks]
//   2  att     storage, read_write  array<f32>        [M, nHeads * HD]
//   3  step    uniform  Step (struct prepended from src/kernels/step.ts)
//   4  params  uniform  Params (same buffer as the decode pass)
// Dispatch: (nHeads, M, 1) workgroups of WG threads; threads stride over HD.
// Module = Step + Params + attention_common.wgsl + this file.

override HD: u32 = 96u;
override CHUNK: u32 = 256u;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> partO: array<f32>;
@group(0) @binding(1) var<storage, read> partML: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> att: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let m = wid.y;
  if (m >= step.nTokens) {
    return;
  }
  let count = (step.kvLen - 1u) / CHUNK - windowStart(step.pos0) / CHUNK + 1u;
  let slot0 = (m * params.nHeads + h) * params.maxChunks;
  var mg = NEG;
  for (var c = 0u; c < count; c++) {
    mg = max(mg, partML[slot0 + c].x);
  }
  var l = 0.0;
  for (var c = 0u; c < count; c++) {
    let ml = partML[slot0 + c];
    l += ml.y * exp(ml.x - mg);
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = lid; d < HD; d += WG) {
    var o = 0.0;
    for (var c = 0u; c < count; c++) {
      o += partO[(slot0 + c) * HD + d] * exp(partML[slot0 + c].x - mg);
    }
    att[(m * params.nHeads + h) * HD + d] = o * inv;
  }
}
