// LayerNorm, with a pending bias added first:
//   if add_pre: x[r, i] += pre[i]             (written back: x then holds the full residual)
//   y[r, i] = (x[r, i] - mean_r) / sqrt(var_r + eps) * w[i] + b[i]
// mean and variance over the row's n values (the variance of the centred values, 1/n).
// The pending bias is the bias of the projection that last added into x (Wo's, Wdown's): adding
// it here saves a pass over x of its own.
//
// Bindings (group 0):
//   0  x       storage, read_write array<f32>  [rows, n]   (pre added in place when add_pre)
//   1  w       storage, read       array<f32>  [n]
//   2  b       storage, read       array<f32>  [n]
//   3  pre     storage, read       array<f32>  [n]         (read only when add_pre != 0)
//   4  y       storage, read_write array<f32>  [rows, n]   (may not alias x)
//   5  params  uniform             { n: u32, rows: u32, eps: f32, add_pre: u32 }
// Dispatch: (rows, 1, 1) workgroups of WG threads; one workgroup per row, thread t owns the
// elements t, t + WG, ... of its row in every loop (so its own writes to x are what it reads
// back), and the two sums are reduced in workgroup memory (tree).

override WG: u32 = 256u;

struct Params {
  n: u32,
  rows: u32,
  eps: f32,
  add_pre: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> pre: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> partial: array<f32, WG>;

// The sum of every thread's `v`, returned to all threads.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  // everyone has read partial[0] before the next call overwrites it
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // rows is uniform across the workgroup, so every thread returns or none does (the barriers)
  let row = wid.x;
  if (row >= params.rows) {
    return;
  }
  let n = params.n;
  let base = row * n;
  var acc = 0.0;
  for (var i = lid; i < n; i += WG) {
    var v = x[base + i];
    if (params.add_pre != 0u) {
      v += pre[i];
      x[base + i] = v;
    }
    acc += v;
  }
  let mean = workgroup_sum(lid, acc) / f32(n);
  var acc2 = 0.0;
  for (var i = lid; i < n; i += WG) {
    let d = x[base + i] - mean;
    acc2 += d * d;
  }
  let scale = inverseSqrt(workgroup_sum(lid, acc2) / f32(n) + params.eps);
  for (var i = lid; i < n; i += WG) {
    y[base + i] = (x[base + i] - mean) * scale * w[i] + b[i];
  }
}
