// RoPE on Q and K fused with the KV-cache append (PHI3.md 2.3).
//
// For token m of the step (position pos = step.pos0 + m) and each rotated pair i < ropeDim/2:
//   theta_i = (pos * thetaScale^i) / factors[i],  thetaScale = f32(base^(-2/ropeDim)) from the CPU,
//   computed exactly like llama.cpp's ggml_rope_cache_init: theta = f32(pos), then theta *= thetaScale
//   once per pair index in f32 (same f32 values, not pow()).
//   c = cos(theta_i) * attnFactor,  s = sin(theta_i) * attnFactor
//   NEOX:   pairs (i, i + ropeDim/2)   out_a = x_a c - x_b s,  out_b = x_a s + x_b c
//   !NEOX:  pairs (2i, 2i + 1)         (GPT-J / llama "norm" style)
// Dims ropeDim .. headDim-1 pass through unchanged.
// sin/cos are our own (range reduction mod pi/2 in four parts, exact for theta < 2^17 * pi/2,
// then Cephes polynomials on [-pi/4, pi/4]): WGSL's builtins promise nothing for |theta| > pi,
// theta_0 = pos reaches the thousands, and SwiftShader's builtins are off by ~1e-3 at pos 4000.
// Measured against llama.cpp's angles with f64 sin/cos: <= 3.5e-7 absolute at any position.
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
override NEOX: bool = true;
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

// pi/2 = C1 + C2 + C3 + C4 (+ 6e-17); C1..C3 have at most 7 significant bits, so k * Ci is exact
// for k < 2^17 and each subtraction below is exact too; only the last product rounds.
const C1: f32 = 1.578125;
const C2: f32 = -0.00732421875;
const C3: f32 = -0.000004470348358154297;
const C4: f32 = 1.5893254712295857e-8;
const TWO_OVER_PI: f32 = 0.6366197723675814;

// (sin x, cos x) for x >= 0, within ~2 ulp of the exact values of the f32 argument.
fn sinCos(x: f32) -> vec2<f32> {
  let k = floor(x * TWO_OVER_PI + 0.5);
  let r = (((x - k * C1) - k * C2) - k * C3) - k * C4;
  let z = r * r;
  // Cephes sinf / cosf minimax polynomials, |r| <= pi/4.
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (u32(k) & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

// (cos, sin) * attnFactor for pair i at position pos.
fn cosSinScaled(pos: u32, i: u32) -> vec2<f32> {
  var theta = f32(pos);
  for (var k = 0u; k < i; k++) {
    theta *= params.thetaScale;
  }
  let sc = sinCos(theta / factors[i]);
  return vec2<f32>(sc.y * params.attnFactor, sc.x * params.attnFactor);
}

// Element d of the rotated head whose raw values start at qkv[src].
fn rotated(src: u32, d: u32) -> f32 {
  let rd = params.ropeDim;
  if (d >= rd) {
    return qkv[src + d];
  }
  var a: u32;
  var b: u32;
  var i: u32;
  var first: bool;
  if (NEOX) {
    let half = rd / 2u;
    first = d < half;
    i = select(d - half, d, first);
    a = i;
    b = i + half;
  } else {
    first = (d & 1u) == 0u;
    i = d / 2u;
    a = 2u * i;
    b = a + 1u;
  }
  let cs = table[i];
  let xa = qkv[src + a];
  let xb = qkv[src + b];
  return select(xa * cs.y + xb * cs.x, xa * cs.x - xb * cs.y, first);
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
      table[i] = cosSinScaled(pos, i);
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
      q[dst] = rotated(src, 2u * w);
      q[dst + 1u] = rotated(src, 2u * w + 1u);
    } else if (pos < params.maxCtx) {
      if (head < nQK) {
        kCache[((head - nQ) * params.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(rotated(src, 2u * w), rotated(src, 2u * w + 1u)));
      } else {
        vCache[((head - nQK) * params.maxCtx + pos) * words + w] = pack2x16float(vec2<f32>(qkv[src + 2u * w], qkv[src + 2u * w + 1u]));
      }
    }
  }
}
