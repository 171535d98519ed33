// SwiGLU activation: h[m, i] = silu(gu[m, i]) * gu[m, ffn + i],  silu(x) = x / (1 + exp(-x))
// (PHI3.md 2.2: the fused gate_up projection puts gate first, then up).
// silu is evaluated as x * sigmoid(x) with e = exp(-|x|) <= 1, so no exp overflows for very
// negative x (llama.cpp's x / (1 + expf(-x)) relies on expf giving +inf there).
//
// Bindings (group 0):
//   0  gu      storage, read        array<f32>  [M, 2 * ffn]
//   1  h       storage, read_write  array<f32>  [M, ffn]
//   2  params  uniform  { ffn: u32 }
// Dispatch: (ceil(ffn / WG), M, 1) workgroups of WG threads, one element per thread.

override WG: u32 = 256u;

struct Params {
  ffn: u32,
}

@group(0) @binding(0) var<storage, read> gu: array<f32>;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn silu(x: f32) -> f32 {
  let e = exp(-abs(x));
  let sigmoid = select(e, 1.0, x >= 0.0) / (1.0 + e);
  return x * sigmoid;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let m = gid.y;
  let ffn = params.ffn;
  if (i >= ffn) {
    return;
  }
  let g = gu[m * 2u * ffn + i];
  let u = gu[m * 2u * ffn + ffn + i];
  h[m * ffn + i] = silu(g) * u;
}
