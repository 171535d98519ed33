// Reductions of attention_lanes.wgsl without subgroup operations (any device): barrier trees in
// workgroup memory (workgroup_reduce.wgsl, which comes before this file, over `red`). The
// subgroup twin is attention_lanes_subgroup.wgsl; SHUFFLE is false in this module, so
// groupSum never calls groupSumShuffle.
// Every thread calls these from workgroup-uniform control flow; every thread gets the result.

struct LaneIds {
  @builtin(local_invocation_index) lid: u32,
}

fn groupSumShuffle(ids: LaneIds, s: f32) -> f32 {
  return s;
}

fn wsMax(ids: LaneIds, x: f32) -> f32 {
  return wg_max(ids.lid, x);
}

// wg_sum ends without a barrier; the one here lets `red` be written again right after.
fn wsSum(ids: LaneIds, x: f32) -> f32 {
  let r = wg_sum(ids.lid, x);
  workgroupBarrier();
  return r;
}
