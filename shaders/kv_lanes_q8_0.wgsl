// Row access of the 'lanes' split-K passes for the q8_0 cache (kv_q8_0.wgsl's rows): the cache is
// bound as array<KVC> with KVC = u32, and a row vector v (VW = 4: dims 8v .. 8v + 7, all in block
// v / 4) is loaded as KV = vec4<u32>(quant word 2v, quant word 2v + 1, bits of the f32 scale, 0):
// two quant loads and the scale's word, which the lanes of one block share. The including pass
// binds kCache and vCache.

fn kvRowStride() -> u32 {
  return HD / 4u + (HD + 63u) / 64u;
}

// Row vector v from its two quant words and the scale word of its block.
fn q8Vec(q0: u32, q1: u32, scale: u32, v: u32) -> KV {
  let d = unpack2x16float(scale)[(v / 4u) & 1u];
  return vec4<u32>(q0, q1, bitcast<u32>(d), 0u);
}

// Dims 2(4v + i), 2(4v + i) + 1: bytes 2(i & 1), 2(i & 1) + 1 of quant word i / 2, sign-extended,
// times the scale (exact in f32, as kv_q8_0.wgsl's kvPair).
fn kvVecPair(x: KV, i: u32) -> vec2<f32> {
  let word = x[i / 2u];
  let sh = (i & 1u) * 16u;
  let lo = bitcast<i32>(word << (24u - sh)) >> 24u;
  let hi = bitcast<i32>(word << (16u - sh)) >> 24u;
  return vec2<f32>(f32(lo), f32(hi)) * bitcast<f32>(x[2]);
}

fn cacheKeyVec(base: u32, j: u32, v: u32) -> KV {
  let row = base + j * kvRowStride();
  return q8Vec(kCache[row + 2u * v], kCache[row + 2u * v + 1u], kCache[row + HD / 4u + v / 8u], v);
}

fn cacheValueVec(base: u32, j: u32, v: u32) -> KV {
  let row = base + j * kvRowStride();
  return q8Vec(vCache[row + 2u * v], vCache[row + 2u * v + 1u], vCache[row + HD / 4u + v / 8u], v);
}
