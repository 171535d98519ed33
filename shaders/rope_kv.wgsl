// RoPE on Q and K fused with the KV-cache append (PHI3.md 2.3).
//
// For token m of the step (position pos = step.pos0 + m): RoPE on every Q and K head (formulas,
// angles and sin/cos in rope_common.wgsl, prepended), then K and V appended to the cache: f16
// pairs, or with KV_Q8 q8_0 rows (kv_q8_0.wgsl's layout, quantized by kv_q8_0_quant.wgsl).
//
// Bindings (group 0):
//   0  qkv      storage, read        array<f32>  [M, (nHeads + 2 nKvHeads) * headDim]  Q | K | V per row
//   1  factors  storage, read        array<f32>  [ropeDim/2]  LongRoPE frequency factors (ones when absent)
//   2  q        storage, read_write  array<f32>  [M, nHeads * headDim]  rotated Q
//   3  kCache   storage, read_write  array<u32>  [nKvHeads, maxCtx, ROW]  rows pos0 .. pos0+M-1 written
//   4  vCache   storage, read_write  array<u32>  [nKvHeads, maxCtx, ROW]  (raw V)
//      ROW = headDim/2 (f16 pairs), or with KV_Q8 headDim/4 + ceil(headDim/64) (q8_0)
//   5  step     uniform  Step (struct prepended from src/kernels/step.ts)
//   6  rope     uniform  RopeParams (struct prepended from RopeKvKernel.uniforms, src/kernels/rope_kv.ts)
// Dispatch: (M, ceil((nHeads + 2 nKvHeads) / HEADS), 1) workgroups of WG threads: one workgroup
// per (token, HEADS consecutive heads of Q | K | V); unless all its heads are V, it first fills the
// token's (cos, sin) table in workgroup memory, then threads stride over the heads' dim pairs
// (Q, and K and V in f16); with KV_Q8, then over the K and V heads' units of two blocks, each
// unit quantized and written by one thread.
// Module = Step + RopeParams + rope_common.wgsl + kv_q8_0_quant.wgsl + this file.

override WG: u32 = 64u;
override HEADS: u32 = 8u;
// Capacity of the (cos, sin) table: ropeDim/2 must not exceed it.
override HALF_MAX: u32 = 128u;
// The cache is q8_0 (else f16).
override KV_Q8: bool = false;

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
    } else if (pos < rope.maxCtx && !KV_Q8) {
      if (head < nQK) {
        kCache[((head - nQ) * rope.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(rotated(src, 2u * w, rope.ropeDim), rotated(src, 2u * w + 1u, rope.ropeDim)));
      } else {
        vCache[((head - nQK) * rope.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(qkv[src + 2u * w], qkv[src + 2u * w + 1u]));
      }
    }
  }

  if (!KV_Q8 || pos >= rope.maxCtx) {
    return;
  }
  // q8_0: unit s (blocks 2s, 2s + 1) of each K and V head of this workgroup.
  let units = (hd / 32u + 1u) / 2u;
  let row = hd / 4u + units;
  let hK = max(h0, nQ);
  let nu = (min(h0 + HEADS, nAll) - min(hK, min(h0 + HEADS, nAll))) * units;
  for (var idx = lid; idx < nu; idx += WG) {
    let head = hK + idx / units;
    let s = idx % units;
    let isK = head < nQK;
    let u = q8Unit(isK, m * nAll * hd + head * hd, s, hd);
    let dst = ((head - select(nQK, nQ, isK)) * rope.maxCtx + pos) * row;
    for (var i = 0u; i < u.words; i++) {
      if (isK) {
        kCache[dst + 16u * s + i] = u.q[i];
      } else {
        vCache[dst + 16u * s + i] = u.q[i];
      }
    }
    if (isK) {
      kCache[dst + hd / 4u + s] = u.scales;
    } else {
      vCache[dst + hd / 4u + s] = u.scales;
    }
  }
}
