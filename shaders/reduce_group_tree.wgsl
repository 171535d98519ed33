// Row-group reduction (gemv_groups.wgsl) without any optional feature: a workgroup-memory tree over
// each group's LANES lanes, log2(LANES) levels, all groups at once. Returns the group's sums of
// acc[0 .. NACC) to every lane of the group; WG / LANES row groups of LANES lanes each.

var<workgroup> gred: array<f32, NACC * WG>;

fn reduce_group(lid: u32, acc: array<f32, NACC>) -> array<f32, NACC> {
  let lane = lid % LANES;
  for (var a = 0u; a < NACC; a++) {
    gred[a * WG + lid] = acc[a];
  }
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var a = 0u; a < NACC; a++) {
        gred[a * WG + lid] += gred[a * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
  let first = lid - lane;
  var tot: array<f32, NACC>;
  for (var a = 0u; a < NACC; a++) {
    tot[a] = gred[a * WG + first];
  }
  return tot;
}
