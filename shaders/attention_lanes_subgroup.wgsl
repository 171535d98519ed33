// Reductions of attention_lanes.wgsl through subgroup operations (the module starts with
// `enable subgroups;`; the device has the `subgroups` feature). The workgroup-memory twin is
// attention_lanes_workgroup.wgsl. Subgroup i is taken to be invocations
// [i * sg_size, (i + 1) * sg_size) of the workgroup, which is how every WebGPU backend lays out a
// 1-D workgroup (reduce_subgroup.wgsl relies on the same), so a group of LPK <= sg_size lanes
// (both powers of two, groups aligned to LPK) lies within one subgroup.
// Every thread calls these from workgroup-uniform control flow; every thread gets the result.

struct LaneIds {
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_size) sg_size: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
}

// Butterfly over the LPK lanes of a group: after step m every lane holds the sum of its 2m lanes;
// a + b and b + a round alike, so all lanes of the group end with the same value.
fn groupSumShuffle(ids: LaneIds, s: f32) -> f32 {
  var t = s;
  for (var m = 1u; m < LPK; m <<= 1u) {
    t += subgroupShuffleXor(t, m);
  }
  return t;
}

// Max over the workgroup: subgroupMax, then the per-subgroup maxima through `red`. Two barriers;
// `red` may be written again right after.
fn wsMax(ids: LaneIds, x: f32) -> f32 {
  let m = subgroupMax(x);
  if (ids.sg_lane == 0u) {
    red[ids.lid / ids.sg_size] = m;
  }
  workgroupBarrier();
  var r = NEG;
  for (var i = 0u; i < (WG + ids.sg_size - 1u) / ids.sg_size; i++) {
    r = max(r, red[i]);
  }
  workgroupBarrier();
  return r;
}

// Sum over the workgroup, the same way (the per-subgroup sums added in subgroup order).
fn wsSum(ids: LaneIds, x: f32) -> f32 {
  let m = subgroupAdd(x);
  if (ids.sg_lane == 0u) {
    red[ids.lid / ids.sg_size] = m;
  }
  workgroupBarrier();
  var r = 0.0;
  for (var i = 0u; i < (WG + ids.sg_size - 1u) / ids.sg_size; i++) {
    r += red[i];
  }
  workgroupBarrier();
  return r;
}
