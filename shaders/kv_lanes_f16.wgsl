// Row access of the 'lanes' split-K passes for the f16 cache (attention_lanes.wgsl): the cache is
// bound as array<KVC> with KVC = KV, a row is NV vectors of VW f16 pairs. The q8_0 twin is
// kv_lanes_q8_0.wgsl; the including pass binds kCache and vCache.

// Cache elements (KVC) per row.
fn kvRowStride() -> u32 {
  return NV;
}

// Dims 2(v VW + i), 2(v VW + i) + 1 of a vector x that holds row vector v.
fn kvVecPair(x: KV, i: u32) -> vec2<f32> {
  return unpack2x16float(kvWord(x, i));
}

fn cacheKeyVec(base: u32, j: u32, v: u32) -> KV {
  return kCache[base + j * NV + v];
}

fn cacheValueVec(base: u32, j: u32, v: u32) -> KV {
  return vCache[base + j * NV + v];
}
