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
//   6  params   uniform  Params
// Dispatch: (M, ceil((nHeads + 2 nKvHeads) / HEADS), 1) workgroups of WG threads: one workgroup
// per (token, HEADS consecutive heads of Q | K | V); unless all its heads are V, it first fills the
// token's (cos, sin) table in workgroup memory, then threads stride over the heads' dim pairs.

override WG: u32 = 64u;
override HEADS: u32 = 8u;
// Capacity of the (cos, sin) table: ropeDim/2 must not exceed it.
override HALF_MAX: u32 = 128u;

struct Params {
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
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> kCache: array<u32>;
@group(0) @binding(4) var<storage, read_write> vCache: array<u32>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> table: array<vec2<f32>, HALF_MAX>;

fn ropeSrc(i: u32) -> f32 {
  return qkv[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = wid.x;
  let pos = step.pos0 + m;
  let hd = params.headDim;
  let words = hd / 2u;
  let nQ = params.nHeads;
  let nQK = nQ + params.nKvHeads;
  let nAll = nQK + params.nKvHeads;
  let h0 = wid.y * HEADS;
  if (m >= step.nTokens || h0 >= nAll) {
    return;
  }
  if (h0 < nQK) {
    for (var i = lid; i < params.ropeDim / 2u; i += WG) {
      table[i] = cosSinScaled(pos, i, params.thetaScale, params.attnFactor);
    }
    workgroupBarrier();
  }

  // Word w (dims 2w, 2w+1) of each of this workgroup's heads.
  let n = min(HEADS, nAll - h0) * words;
  for (var idx = lid; idx < n; idx += WG) {
    let head = h0 + idx / words;
    let w = idx % words;
    let src = m * nAll * hd + head * hd;
    if (head < nQ) {
      let dst = (m * nQ + head) * hd + 2u * w;
      q[dst] = rotated(src, 2u * w, params.ropeDim);
      q[dst + 1u] = rotated(src, 2u * w + 1u, params.ropeDim);
    } else if (pos < params.maxCtx) {
      if (head < nQK) {
        kCache[((head - nQ) * params.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(rotated(src, 2u * w, params.ropeDim), rotated(src, 2u * w + 1u, params.ropeDim)));
      } else {
        vCache[((head - nQK) * params.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(qkv[src + 2u * w], qkv[src + 2u * w + 1u]));
      }
    }
  }
}
