// Residual add in place: y[m, i] += x[m, i], for where the add is not fused into a projection.
//
// Bindings (group 0):
//   0  x       storage, read        array<f32>  [M, n]
//   1  y       storage, read_write  array<f32>  [M, n]   (may not alias x)
//   2  params  uniform  { n: u32 }
// Dispatch: (ceil(n / WG), M, 1) workgroups of WG threads, one element per thread.

override WG: u32 = 256u;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.n) {
    return;
  }
  let j = gid.y * params.n + i;
  y[j] += x[j];
}
