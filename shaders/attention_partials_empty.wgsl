// The partials of a split-K chunk with no key visible to its row: (NEG, 0) and zeros, which the
// merge (attention_merge.wgsl) weighs by 0. Shared by every split-K decode pass
// (attention_partials.wgsl, attention_lanes.wgsl); the including shader declares HD and WG and
// binds `partO` and `partML` as attention_decode.wgsl documents them.

fn emptyPartials(lid: u32, slot: u32) {
  for (var d = lid; d < HD; d += WG) {
    partO[slot * HD + d] = 0.0;
  }
  if (lid == 0u) {
    partML[slot] = vec2<f32>(NEG, 0.0);
  }
}
