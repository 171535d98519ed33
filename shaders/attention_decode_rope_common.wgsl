// The fused RoPE + KV-append prologue shared by attention_decode_rope.wgsl and
// attention_decode_rope_lanes.wgsl (src/kernels/attention.ts puts it after rope_common.wgsl in
// both modules). The including shader declares HD and WG, binds `qkv`, `factors`, `params` and
// `rope` as attention_decode_rope.wgsl documents them, and declares in workgroup memory
//   table: array<vec2<f32>, N>   N >= ropeDim/2, for ropeTable
//   qs: array<f32, HD>           q * scale
//   kNew, vNew: array<u32, N>    N >= HD/2, the new key and value as the cache row stores them
//                                (kvRowWords() <= HD/2 words: kv_f16.wgsl or kv_q8_0.wgsl)
// Both passes then write kNew / vNew to cache row pos in their own word layout (attention_split_k.wgsl
// comes after them in the module).

// What one workgroup of a fused pass works on: its chunk, the kv head of its query head, and
// whether it writes the new key and value to the cache (its chunk holds pos and its query head is
// the first of its kv head, h % group == 0, so one workgroup per kv head writes).
struct RopeChunk {
  chunk: Chunk,
  kvh: u32,
  writes: bool,
}

// Workgroup (chunk c, query head h) for the step's one token at pos = step.pos0. Its chunk, with
// the empty partials written when no key of it is visible (splitKChunk). For a chunk with visible
// keys, all threads of the workgroup together: the (cos, sin) table for pos, qs = q_h rotated,
// times scale, and in the chunk holding pos, kNew / vNew = k rotated and v of kv head kvh, encoded
// exactly as the cache stores them (f16 pairs; or q8_0, one thread per unit of two blocks as in
// rope_kv.wgsl, kv_q8_0_quant.wgsl); ends with a barrier.
fn ropeChunk(lid: u32, c: u32, h: u32) -> RopeChunk {
  let pos = step.pos0;
  let chunk = splitKChunk(lid, c, h, 0u);
  let group = params.nHeads / params.nKvHeads;
  let kvh = h / group;
  // Key pos is seen by every head (its block is local), so it is the map's last key iff the
  // chunk holds it.
  let hasNew = chunk.seen.n > 0u && seenKey(chunk.seen, chunk.seen.n - 1u) == pos;
  if (chunk.seen.n > 0u) {
    ropeTable(lid, pos);
    let kSrc = (params.nHeads + kvh) * HD;
    let vSrc = (params.nHeads + params.nKvHeads + kvh) * HD;
    for (var d = lid; d < HD; d += WG) {
      qs[d] = rotated(h * HD, d, rope.ropeDim) * params.scale;
    }
    if (hasNew && KV_Q8) {
      let units = (HD / 32u + 1u) / 2u;
      for (var u = lid; u < 2u * units; u += WG) {
        let isK = u < units;
        let s = u % units;
        let x = q8Unit(isK, select(vSrc, kSrc, isK), s, HD);
        for (var i = 0u; i < x.words; i++) {
          if (isK) {
            kNew[16u * s + i] = x.q[i];
          } else {
            vNew[16u * s + i] = x.q[i];
          }
        }
        if (isK) {
          kNew[HD / 4u + s] = x.scales;
        } else {
          vNew[HD / 4u + s] = x.scales;
        }
      }
    } else if (hasNew) {
      for (var w = lid; w < HD / 2u; w += WG) {
        kNew[w] = pack2x16float(vec2<f32>(rotated(kSrc, 2u * w, rope.ropeDim), rotated(kSrc, 2u * w + 1u, rope.ropeDim)));
        vNew[w] = pack2x16float(vec2<f32>(qkv[vSrc + 2u * w], qkv[vSrc + 2u * w + 1u]));
      }
    }
    workgroupBarrier();
  }
  return RopeChunk(chunk, kvh, hasNew && h % group == 0u);
}
