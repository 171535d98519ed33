// The start of a split-K pass that reads q from its own buffer, shared by attention_decode.wgsl
// and attention_decode_lanes.wgsl (src/kernels/attention.ts puts it after the pass's own file in
// both modules, with attention_split_k.wgsl). The including pass declares HD and WG, binds `q`,
// `step` and `params` as attention_decode.wgsl documents them, and declares
// `qs: array<f32, HD>` in workgroup memory.

// The chunk of workgroup (chunk wid.x, query head wid.y, token wid.z), with its empty partials
// written when no key of it is visible (splitKChunk), and an empty chunk (seen.n == 0, nothing
// written) for a token beyond the step. For a chunk with visible keys, also qs = q * scale for
// that token and head, all threads together, followed by a barrier.
fn queryChunk(lid: u32, wid: vec3<u32>) -> Chunk {
  let h = wid.y;
  let m = wid.z;
  if (m >= step.nTokens) {
    return Chunk(Seen(0u, 0u, 0u, 0u, 0u), 0u);
  }
  let c = splitKChunk(lid, wid.x, h, m);
  if (c.seen.n > 0u) {
    for (var d = lid; d < HD; d += WG) {
      qs[d] = q[(m * params.nHeads + h) * HD + d] * params.scale;
    }
    workgroupBarrier();
  }
  return c;
}
