// GeGeLU (Phi-3-small's feed-forward activation), with the up projection's bias:
//   g = min(gu[m, i] + b[i], limit)              the gelu half (rows 0..n-1 of ffn_up)
//   l = clamp(gu[m, n + i] + b[n + i], -limit, limit)   the linear half (rows n..2n-1)
//   h[m, i] = g * sigmoid(1.702 g) * (l + 1)
// sigmoid(s) is evaluated with e = exp(-|s|) <= 1 (as silu.wgsl does), so no exp overflows for a
// very negative g (g is clamped from above only): every value stays finite.
//
// Bindings (group 0):
//   0  gu      storage, read       array<f32>  [M, 2n]  gelu half | linear half (the converter de-interleaves)
//   1  b       storage, read       array<f32>  [2n]     ffn_up's bias, same order
//   2  h       storage, read_write array<f32>  [M, n]
//   3  params  uniform             { n: u32, limit: f32 }
// Dispatch: (ceil(n / WG), M, 1) workgroups of WG threads; thread (i, m) owns h[m * n + i].

override WG: u32 = 256u;

struct Params {
  n: u32,
  limit: f32,
}

@group(0) @binding(0) var<storage, read> gu: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let m = gid.y;
  let n = params.n;
  if (i >= n) {
    return;
  }
  let limit = params.limit;
  let g = min(gu[m * 2u * n + i] + b[i], limit);
  let l = clamp(gu[m * 2u * n + n + i] + b[n + i], -limit, limit);
  let s = 1.702 * g;
  let e = exp(-abs(s));
  let sigmoid = select(e, 1.0, s >= 0.0) / (1.0 + e);
  h[m * n + i] = g * sigmoid * (l + 1.0);
}
