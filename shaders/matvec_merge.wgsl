// The input of a matvec driver (matvec.wgsl, matvec_groups.wgsl) merged from split-K attention
// partials, in place of linear_bindings.wgsl + gemv_input.wgsl: the Wo GEMV reads what the
// split-K decode pass (attention_partials.wgsl, attention_lanes.wgsl) wrote for the one decoded
// token and merges it itself, so the merge pass (attention_merge.wgsl) is not dispatched. Per
// head h, over the chunks c the step visits:
//   M_h = max_c m_c,  L_h = sum_c l_c exp(m_c - M_h),  x[h HD + d] = sum_c partO_c[d] exp(m_c - M_h) / L_h
// in attention_merge.wgsl's order of operations, so x is the vector that pass would have written.
// Every workgroup merges the whole vector into workgroup memory (x below, 4 K bytes for a row of
// K), then the driver reads its chunks of x from there: the partials are read once per workgroup.
//
// Module = quant_common.wgsl + weights_<type>.wgsl + this file's generated header (below) + this
//          file + gemv_common.wgsl + driver + reduction + store.
// Generated before this file by src/kernels/matvec.ts (attentionMergeHeader):
//   const XV: u32         vec4s of x (K / 4)
//   const HV: u32         vec4s per head (HD / 4; HD a multiple of 4)
//   const NH: u32         heads (K / HD)
//   const ATT_CHUNK: u32  keys per split-K chunk (the attention kernel's chunk)
//   struct Step (src/kernels/step.ts), struct AttnParams (AttentionKernel.uniforms)
//   @binding(B)     part_ml   storage, read  array<vec2<f32>>  [nHeads, maxChunks] (m_c, l_c)
//   @binding(B + 1) att_step  uniform  Step        the decode step (pos0 = pos, nTokens = 1)
//   @binding(B + 2) attn      uniform  AttnParams  the attention kernel's params (window, maxChunks)
// with B = 5, or 8 after matvec_store_norm.wgsl's bindings.
// Bindings here (group 0): linear_bindings.wgsl's, except binding 2:
//   2  part_o  storage, read  array<vec4<f32>>  [nHeads, maxChunks, HD]: the partial outputs

@group(0) @binding(0) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> part_o: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// The merged input the driver reads as x[i].
var<workgroup> x: array<vec4<f32>, XV>;
// Per head: (M_h, 1 / L_h).
var<workgroup> head_scale: array<vec2<f32>, NH>;

// attention_common.wgsl's windowStart, over attn.window.
fn att_window_start(pos: u32) -> u32 {
  if (attn.window == 0u || pos < attn.window) {
    return 0u;
  }
  return pos + 1u - attn.window;
}

// Fills x; every invocation of the workgroup calls it, in uniform control flow, before the
// driver's first read of x.
fn gemv_input(lid: u32) {
  // the chunks the split-K pass wrote, counted as attention_merge.wgsl counts them
  let count = (att_step.kvLen - 1u) / ATT_CHUNK - att_window_start(att_step.pos0) / ATT_CHUNK + 1u;
  for (var h = lid; h < NH; h += WG) {
    let slot0 = h * attn.maxChunks;
    var mg = part_ml[slot0].x;
    for (var c = 1u; c < count; c++) {
      mg = max(mg, part_ml[slot0 + c].x);
    }
    var l = 0.0;
    for (var c = 0u; c < count; c++) {
      let ml = part_ml[slot0 + c];
      l += ml.y * exp(ml.x - mg);
    }
    head_scale[h] = vec2<f32>(mg, select(0.0, 1.0 / l, l > 0.0));
  }
  workgroupBarrier();
  for (var i = lid; i < XV; i += WG) {
    let h = i / HV;
    let hs = head_scale[h];
    let slot0 = h * attn.maxChunks;
    var o = vec4<f32>(0.0);
    for (var c = 0u; c < count; c++) {
      o += part_o[(slot0 + c) * HV + i % HV] * exp(part_ml[slot0 + c].x - hs.x);
    }
    x[i] = o * hs.y;
  }
  workgroupBarrier();
}
