// SwiGLU activation: h[m, i] = silu(gu[m, i]) * gu[m, ffn + i]
// (PHI3.md 2.2: the fused gate_up projection puts gate first, then up).
// Module = elementwise.wgsl + silu.wgsl + this file; src = gu [M, 2 * ffn], dst = h [M, ffn],
// params.n = ffn.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let m = gid.y;
  let ffn = params.n;
  if (i >= ffn) {
    return;
  }
  let g = src[m * 2u * ffn + i];
  let u = src[m * 2u * ffn + ffn + i];
  dst[m * ffn + i] = silu(g) * u;
}
