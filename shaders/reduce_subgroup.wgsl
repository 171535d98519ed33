// Row-sum reduction for matvec.wgsl with the `subgroups` feature (the module then starts with
// `enable subgroups;`): subgroupAdd within each subgroup, the per-subgroup sums through
// workgroup memory, then thread r < ROWS adds them up (reduced_row). One barrier.
// Subgroup i is taken to be invocations [i * sg_size, (i + 1) * sg_size) of the workgroup,
// which is how every WebGPU backend lays out a 1-D workgroup.

struct ReduceIds {
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_size) sg_size: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
}

fn reduce_rows(ids: ReduceIds, acc: array<f32, MAX_ROWS>) -> f32 {
  let nsg = (WG + ids.sg_size - 1u) / ids.sg_size;
  let sg = ids.lid / ids.sg_size;
  for (var r = 0u; r < ROWS; r++) {
    let s = subgroupAdd(acc[r]);
    if (ids.sg_lane == 0u) {
      red[r * nsg + sg] = s;
    }
  }
  workgroupBarrier();
  return reduced_row(ids, min(ids.lid, ROWS - 1u));
}

// After reduce_rows, in any thread: the workgroup sum of row r (r < ROWS). The fused kernels
// read their extra rows (the sum of squares, the up rows) this way, with no second barrier.
fn reduced_row(ids: ReduceIds, r: u32) -> f32 {
  let nsg = (WG + ids.sg_size - 1u) / ids.sg_size;
  var total = 0.0;
  for (var i = 0u; i < nsg; i++) {
    total += red[r * nsg + i];
  }
  return total;
}
