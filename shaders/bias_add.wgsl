// Bias add in place: y[m, i] += b[i], for a projection whose bias is not fused elsewhere
// (phi3small's QKV bias, added before RoPE).
// Module = elementwise.wgsl + this file; src = b [n], dst = y [M, n].

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.n) {
    return;
  }
  dst[gid.y * params.n + i] += src[i];
}
