// What every attention shader (attention_decode.wgsl, attention_decode_rope.wgsl,
// attention_merge.wgsl, attention_prefill.wgsl) shares, prepended to each by src/kernels/attention.ts
// after `struct Params` (generated from AttentionKernel.uniforms). The including shader binds
// `params: Params`.

// Finite stand-in for -inf: exp(NEG - x) underflows to 0 without an infinity anywhere.
const NEG: f32 = -1.0e30;

// First key visible from position pos: key j is visible iff j <= pos and (window == 0 or
// pos - j < window).
fn windowStart(pos: u32) -> u32 {
  if (params.window == 0u || pos < params.window) {
    return 0u;
  }
  return pos + 1u - params.window;
}

// Block-sparse pattern (src/model/PHI3SMALL.md), from Params: sparseBlock = B (0: dense, every
// causal key in the window is seen), localBlocks = L >= 1, vertStride = V >= 1, headStep.
// Query head h in query block ib = floor(i / B) sees key block jb <= ib iff
//   jb + L > ib  (ib - jb < L, without the u32 underflow)  or  (jb + h headStep + 1) % V == 0.
// For jb > ib the first clause holds: so over the rows of blocks b0..b1, block jb <= b1 is seen by
// some row iff blockSeen(h, b0, jb) (the row of block b0 sees the most local blocks, and the
// vertical clause does not depend on the row); the prefill tiles rely on this.
fn blockSeen(h: u32, ib: u32, jb: u32) -> bool {
  return jb + params.localBlocks > ib || (jb + h * params.headStep + 1u) % params.vertStride == 0u;
}

// The block of position pos (0 when dense).
fn queryBlock(pos: u32) -> u32 {
  return pos / max(params.sparseBlock, 1u);
}

// Whether query head h in query block ib (queryBlock) sees key j, for j in the row's window and
// causal bounds: always when dense, else blockSeen.
fn keySeen(h: u32, ib: u32, j: u32) -> bool {
  return params.sparseBlock == 0u || blockSeen(h, ib, j / params.sparseBlock);
}

// The smallest key >= x in a block that head h sees from query block ib (blockSeen): x itself
// when its block is seen, else the start of the next vertical block or of the local run
// (blocks ib + 1 - L .. ib), whichever comes first. Dense: x.
fn nextSeenKey(h: u32, ib: u32, x: u32) -> u32 {
  if (params.sparseBlock == 0u) {
    return x;
  }
  let B = params.sparseBlock;
  let jb = x / B;
  if (blockSeen(h, ib, jb)) {
    return x;
  }
  // Not seen: jb + L <= ib, so the local run starts at block ib + 1 - L > jb, and jb is not
  // vertical, so the next vertical block is jb + V - c with c = (jb + h headStep + 1) % V != 0.
  let c = (jb + h * params.headStep + 1u) % params.vertStride;
  return min(jb + params.vertStride - c, ib + 1u - params.localBlocks) * B;
}

// The keys of [lo, hi) that head h at position pos sees (lo >= windowStart(pos), hi <= pos + 1),
// in increasing order, as a map from their index t in [0, n) to the key (seenKey): first the keys
// of vertical blocks before the local run (nv of them), then the local run [local, hi), every
// key of it seen. The vertical keys are those of blocks f, f + V, f + 2V, ... (f the first
// vertical block >= floor(lo / B)) from key vbase = f B on, the first vskip of them below lo.
// Dense: the run [lo, hi) alone.
struct Seen {
  n: u32,
  nv: u32,
  vbase: u32,
  vskip: u32,
  local: u32,
}

// Keys in [vbase, x) that lie in the vertical blocks f, f + V, ...: B per period of V B keys.
fn vertCount(vbase: u32, x: u32) -> u32 {
  if (x <= vbase) {
    return 0u;
  }
  let B = params.sparseBlock;
  let d = x - vbase;
  let period = params.vertStride * B;
  return (d / period) * B + min(d % period, B);
}

fn seenKeys(h: u32, pos: u32, lo: u32, hi: u32) -> Seen {
  if (lo >= hi) {
    return Seen(0u, 0u, 0u, 0u, hi);
  }
  if (params.sparseBlock == 0u) {
    return Seen(hi - lo, 0u, 0u, 0u, lo);
  }
  let B = params.sparseBlock;
  let ib = pos / B;
  let localStart = (ib + 1u - min(params.localBlocks, ib + 1u)) * B;
  let ls = clamp(localStart, lo, hi);
  let V = params.vertStride;
  let lb = lo / B;
  let f = lb + (V - (lb + h * params.headStep + 1u) % V) % V;
  let vbase = f * B;
  // lo lies in block f or before it: vskip = lo - vbase < B, or 0.
  let vskip = vertCount(vbase, lo);
  let nv = vertCount(vbase, ls) - vskip;
  return Seen(nv + hi - ls, nv, vbase, vskip, ls);
}

// Key number t (< s.n) of a Seen set.
fn seenKey(s: Seen, t: u32) -> u32 {
  if (t >= s.nv) {
    return s.local + (t - s.nv);
  }
  let B = params.sparseBlock;
  let u = t + s.vskip;
  return s.vbase + (u / B) * params.vertStride * B + u % B;
}
