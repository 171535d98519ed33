// RoPE on Q and K fused with the KV-cache append (PHI3.md 2.3).
//
// For token m of the step (position pos = step.pos0 + m): RoPE on every Q and K head (formulas,
// angles and sin/cos in rope_common.wgsl, prepended), then K and V appended to the f16 cache.
//
// Bindings (group 0):
//   0  qkv      storage, read        array<f32>  [M, (nHeads + 2 nKvHeads) * headDim]  Q | K | V per row
//   1  factors  storage, read        array<f32>  [ropeDim/2]  LongRoPE frequency factors (ones when absent)
//   2  q        storage, read_write  array<f32>  [M, nHeads * headDim]  rotated Q
//   3  kCache   storage, read_write  array<u32>  [nKvHeads, maxCtx, headDim/2]  f16 pairs; rows pos0 .. pos0+M-1 written
//   4  vCache   storage, read_write  array<u32>  [nKvHeads, maxCtx, headDim/2]  f16 pairs (raw V)
//   5  step     uniform  Step (struct prepended from src/kernels/step.ts)
//   6  rope     uniform  RopeParams (struct prepended from RopeKvKernel.uniforms, src/kernels/rope_kv.ts)
// Dispatch: (M, ceil((nHeads + 2 nKvHeads) / HEADS), 1) workgroups of WG threads: one workgroup
// per (token, HEADS consecutive heads of Q | K | V); unless all its heads are V, it first fills the
// token's (cos, sin) table in workgroup memory, then threads stride over the heads' dim pairs.
// Module = Step + RopeParams + rope_common.wgsl + this file.

override WG: u32 = 64u;
override HEADS: u32 = 8u;
// Capacity of the (cos, sin) table: ropeDim/2 must not exceed it.
override HALF_MAX: u32 = 128u;

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> factors: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> kCache: array<u32>;
@group(0) @binding(4) var<storage, read_write> vCache: array<u32>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> rope: RopeParams;

var<workgroup> table: array<vec2<f32>, HALF_MAX>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = wid.x;
  let pos = step.pos0 + m;
  let hd = rope.headDim;
  let words = hd / 2u;
  let nQ = rope.nHeads;
  let nQK = nQ + rope.nKvHeads;
  let nAll = nQK + rope.nKvHeads;
  let h0 = wid.y * HEADS;
  if (m >= step.nTokens || h0 >= nAll) {
    return;
  }
  if (h0 < nQK) {
    ropeTable(lid, pos);
  }

  // Word w (dims 2w, 2w+1) of each of this workgroup's heads.
  let n = min(HEADS, nAll - h0) * words;
  for (var idx = lid; idx < n; idx += WG) {
    let head = h0 + idx / words;
    let w = idx % words;
    let src = m * nAll * hd + head * hd;
    if (head < nQ) {
      let dst = (m * nQ + head) * hd + 2u * w;
      q[dst] = rotated(src, 2u * w, rope.ropeDim);
      q[dst + 1u] = rotated(src, 2u * w + 1u, rope.ropeDim);
    } else if (pos < rope.maxCtx) {
      if (head < nQK) {
        kCache[((head - nQ) * rope.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(rotated(src, 2u * w, rope.ropeDim), rotated(src, 2u * w + 1u, rope.ropeDim)));
      } else {
        vCache[((head - nQK) * rope.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(qkv[src + 2u * w], qkv[src + 2u * w + 1u]));
      }
    }
  }
}
