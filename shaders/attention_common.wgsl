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
