// The fused 'lanes' pass's new key and value for the q8_0 cache: kNew / vNew hold the row's words
// as the cache stores them (attention_decode_rope_common.wgsl quantizes them), read as
// kv_lanes_q8_0.wgsl reads a cached row, and copied to the cache word by word.

fn kNewVec(v: u32) -> KV {
  return q8Vec(kNew[2u * v], kNew[2u * v + 1u], kNew[HD / 4u + v / 8u], v);
}

fn vNewVec(v: u32) -> KV {
  return q8Vec(vNew[2u * v], vNew[2u * v + 1u], vNew[HD / 4u + v / 8u], v);
}

fn writeNewRow(lid: u32, base: u32, pos: u32) {
  let RW = kvRowStride();
  for (var w = lid; w < RW; w += WG) {
    kCache[base + pos * RW + w] = kNew[w];
    vCache[base + pos * RW + w] = vNew[w];
  }
}
