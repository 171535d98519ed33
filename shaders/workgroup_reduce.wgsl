// Workgroup-wide max and sum of one f32 per thread, for the split-K decode attention shaders
// (attention_decode.wgsl, attention_decode_rope.wgsl), put in their module by src/kernels/attention.ts.
// The module declares `override WG` (a power of two) and `var<workgroup> red: array<f32, WG>`
// (attention_partials.wgsl does).
// Every thread calls these from uniform control flow and every thread gets the result.

// Ends with a barrier: `red` may be written again right after.
fn wg_max(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      red[lid] = max(red[lid], red[lid + stride]);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// No trailing barrier: the caller must pass one before writing `red` again.
fn wg_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      red[lid] += red[lid + stride];
    }
    workgroupBarrier();
  }
  return red[0];
}
