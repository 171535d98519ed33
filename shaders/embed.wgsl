// Embedding gather: out[m, :] = W[ids[m], :] * scale, dequantized (exactly llama.cpp's values;
// scale is 1 but for Phi-3-small's mup_embedding_multiplier, and * 1 is exact), for the
// ids that fall in this part's rows [row_offset, row_offset + rows); other ids are left alone,
// so a row-split table is gathered by one dispatch per part into the same `out`.
//
// Module = quant_common.wgsl + weights_<type>.wgsl + this file.
// Bindings (group 0):
//   0  wq      storage, read       array<vec4<u32>>  repacked weight rows [rows, k] (weights_<type>.wgsl)
//   1  ws      storage, read       array<u32>        f16 d pairs (Q4_0, Q8_0, Q6_K only)
//   2  ids     storage, read       array<u32>        [m] token ids
//   3  out     storage, read_write array<vec4<f32>>  [m, k]
//   4  params  uniform             { k, rows, m, row_offset, scale }
// Dispatch: (ceil(k / CHUNK / WG), m, 1) workgroups of WG threads; one thread per chunk.

override WG: u32 = 64u;

struct Params {
  k: u32,
  rows: u32,
  m: u32,
  row_offset: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * WG + lid;
  let m = wid.y;
  if (c >= params.k / CHUNK || m >= params.m) {
    return;
  }
  let id = ids[m];
  if (id < params.row_offset || id - params.row_offset >= params.rows) {
    return;
  }
  let w = dequant_chunk(id - params.row_offset, c);
  let base = m * (params.k / 4u);
  for (var j = 0u; j < CHUNK_VECS; j++) {
    out[base + chunk_vec(c, j)] = w[j] * params.scale;
  }
}
