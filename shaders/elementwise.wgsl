// Shared by the row-wise elementwise kernels (add.wgsl, silu_mul.wgsl): a module is this file
// followed by the kernel's, whose `main` computes its n outputs of token row m.
//
// Bindings (group 0):
//   0  src     storage, read        array<f32>  [M, *]  the kernel's input rows
//   1  dst     storage, read_write  array<f32>  [M, n]  its output rows (may not alias src)
//   2  params  uniform              { n: u32 }
// Dispatch: (ceil(n / WG), M, 1) workgroups of WG threads; thread (i, m) owns dst[m * n + i].

override WG: u32 = 256u;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
