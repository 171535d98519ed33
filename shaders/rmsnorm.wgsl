// RMSNorm: y[r, i] = w[i] * x[r, i] / sqrt(mean_j(x[r, j]^2) + eps)
//
// Bindings (group 0):
//   0  x       storage, read       array<f32>  [rows, n]
//   1  w       storage, read       array<f32>  [n]
//   2  y       storage, read_write array<f32>  [rows, n]   (may not alias x)
//   3  params  uniform             { n: u32, rows: u32, eps: f32 }
// Dispatch: (rows, 1, 1) workgroups of WG threads; one workgroup per row, threads stride over n.
// The sum of squares is reduced in workgroup memory (tree), so no optional feature is needed.

override WG: u32 = 256u;

struct Params {
  n: u32,
  rows: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.n;
  var acc = 0.0;
  for (var i = lid; i < params.n; i += WG) {
    let v = x[base + i];
    acc += v * v;
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(params.n) + params.eps);
  for (var i = lid; i < params.n; i += WG) {
    y[base + i] = w[i] * (x[base + i] * scale);
  }
}
