// Residual add in place: y[m, i] += x[m, i], for where the add is not fused into a projection.
// Module = elementwise.wgsl + this file; src = x [M, n], dst = y [M, n].

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.n) {
    return;
  }
  let j = gid.y * params.n + i;
  dst[j] += src[j];
}
