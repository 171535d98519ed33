// The fused 'lanes' pass's new key and value (attention_decode_rope_lanes.wgsl) for the f16 cache:
// kNew / vNew hold the row's f16 pairs; vectors of them, and the row's append by vector. The q8_0
// twin is kv_lanes_new_q8_0.wgsl.

fn kNewVec(v: u32) -> KV {
  var x: KV;
  for (var i = 0u; i < VW; i++) {
    x = kvWith(x, i, kNew[v * VW + i]);
  }
  return x;
}

fn vNewVec(v: u32) -> KV {
  var x: KV;
  for (var i = 0u; i < VW; i++) {
    x = kvWith(x, i, vNew[v * VW + i]);
  }
  return x;
}

// Row pos of the kv head at cache element base, written by the workgroup's threads.
fn writeNewRow(lid: u32, base: u32, pos: u32) {
  for (var v = lid; v < NV; v += WG) {
    kCache[base + pos * NV + v] = kNewVec(v);
    vCache[base + pos * NV + v] = vNewVec(v);
  }
}
