// The bindings of the linear-layer kernels, y = W x over a repacked weight: the decode GEMVs
// (gemv_common.wgsl) and the prefill GEMM (matmul.wgsl). src/kernels/compute-kernel.ts
// WeightKernel lays them out; the module defines its `Params`.
//
// Bindings (group 0):
//   0  wq      storage, read       array<vec4<u32>>  repacked weight rows [rows, k] (weights_<type>.wgsl)
//   1  ws      storage, read       array<u32>        f16 d pairs (Q4_0, Q8_0, Q6_K only; declared by weights_split_d.wgsl)
//   2  x       storage, read       array<vec4<f32>>  activations, k per token
//   3  y       storage, read_write array<f32>        outputs (may not alias x); a split-K matvec
//                                                    declares it array<atomic<u32>> (src/kernels/gemv.ts
//                                                    replaces the declaration below, word for word)
//   4  params  uniform             Params
//   5..        the kernel's own

@group(0) @binding(0) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
