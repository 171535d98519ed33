// Row-group reduction (gemv_groups.wgsl) with the `subgroups` feature (the module then starts with
// `enable subgroups;`): no workgroup memory, no barrier. Returns the group's sums of
// acc[0 .. NACC) to every lane of the group.
// Needs LANES <= the adapter's smallest subgroup (checked by src/kernels/gemv.ts): subgroup i is
// invocations [i sg_size, (i + 1) sg_size) of the 1-D workgroup, as in reduce_subgroup.wgsl, and
// sg_size and LANES are powers of two, so each row group lies inside one subgroup.
// SG_ADD (the subgroup is exactly one row group): subgroupAdd. Otherwise a subgroup holds several
// groups: a butterfly of subgroupShuffleXor over the lane bits below LANES, which never crosses a
// group and leaves the same sum in every lane (each level adds the same two values, commuted).

fn reduce_group(lid: u32, acc: array<f32, NACC>) -> array<f32, NACC> {
  var tot = acc;
  for (var a = 0u; a < NACC; a++) {
    if (SG_ADD) {
      tot[a] = subgroupAdd(tot[a]);
    } else {
      for (var m = LANES / 2u; m > 0u; m >>= 1u) {
        tot[a] += subgroupShuffleXor(tot[a], m);
      }
    }
  }
  return tot;
}
