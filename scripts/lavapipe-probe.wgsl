// Cost probes for a Q4_K GEMV on a CPU Vulkan driver (scripts/lavapipe-probe.ts). Each entry point
// reads the same repacked Q4_K rows (9 vec4<u32> per 256-element block), one row per invocation,
// and does a little more of a GEMV's work than the one before. Only `bcast` and `ubo` compute
// y = W x (checked against the CPU by the script); the others write a checksum so that the
// compiler keeps their loads. Module = quant_common.wgsl + this file (+ `enable subgroups;` first).

struct Params { k: u32, rows: u32, y_offset: u32, accumulate: u32 }
@group(0) @binding(0) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Block b of weight row `row` (nb blocks a row): its first vec4, that vec4 (the head) and (d, dmin).
struct Block {
  base: u32,
  head: vec4<u32>,
  dm: vec2<f32>,
}

fn block(row: u32, nb: u32, b: u32) -> Block {
  let base = (row * nb + b) * 9u;
  let head = wq[base];
  return Block(base, head, unpack2x16float(head.x));
}

// 1. load: the row's words, summed as integers.
@compute @workgroup_size(8)
fn load(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = min(gid.x, params.rows - 1u);
  let nb = params.k / 256u;
  var acc = vec4<u32>(0u);
  for (var b = 0u; b < nb; b++) {
    let base = (row * nb + b) * 9u;
    for (var j = 0u; j < 9u; j++) {
      acc += wq[base + j];
    }
  }
  if (gid.x < params.rows) { y[gid.x] = f32(acc.x ^ acc.y ^ acc.z ^ acc.w); }
}

// 2. decode: + every nibble to f32, summed.
@compute @workgroup_size(8)
fn decode(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = min(gid.x, params.rows - 1u);
  let nb = params.k / 256u;
  var acc = vec4<f32>(0.0);
  for (var b = 0u; b < nb; b++) {
    let base = (row * nb + b) * 9u;
    for (var j = 1u; j < 9u; j++) {
      let q = wq[base + j];
      acc += (nib_lanes(q.x) + nib_lanes(q.y)) + (nib_lanes(q.z) + nib_lanes(q.w));
      acc += (nib_lanes(q.x >> 4u) + nib_lanes(q.y >> 4u)) + (nib_lanes(q.z >> 4u) + nib_lanes(q.w >> 4u));
    }
  }
  if (gid.x < params.rows) { y[gid.x] = hsum(acc); }
}

// 3. scaled: + the block head, its 6-bit scales and mins, and a multiply per weight by values
// already in registers (a stand-in for x that costs nothing to fetch).
@compute @workgroup_size(8)
fn scaled(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = min(gid.x, params.rows - 1u);
  let nb = params.k / 256u;
  let c0 = vec4<f32>(0.5, 0.25, 0.125, 1.5);
  let c1 = vec4<f32>(1.25, 0.75, 0.375, 0.625);
  var acc = 0.0;
  for (var b = 0u; b < nb; b++) {
    let blk = block(row, nb, b);
    for (var g = 0u; g < 4u; g++) {
      let q0 = wq[blk.base + 1u + 2u * g];
      let q1 = wq[blk.base + 2u + 2u * g];
      let lo = ((nib_lanes(q0.x) * c0 + nib_lanes(q0.y) * c1) + (nib_lanes(q0.z) * c0 + nib_lanes(q0.w) * c1)) + ((nib_lanes(q1.x) * c0 + nib_lanes(q1.y) * c1) + (nib_lanes(q1.z) * c0 + nib_lanes(q1.w) * c1));
      let hi = ((nib_lanes(q0.x >> 4u) * c1 + nib_lanes(q0.y >> 4u) * c0) + (nib_lanes(q0.z >> 4u) * c1 + nib_lanes(q0.w >> 4u) * c0)) + ((nib_lanes(q1.x >> 4u) * c1 + nib_lanes(q1.y >> 4u) * c0) + (nib_lanes(q1.z >> 4u) * c1 + nib_lanes(q1.w >> 4u) * c0));
      let sm = kq_scale_min(blk.head, g);
      acc += blk.dm.x * hsum(sm.x * lo + sm.z * hi) - blk.dm.y * (sm.y + sm.w);
    }
  }
  if (gid.x < params.rows) { y[gid.x] = acc; }
}
