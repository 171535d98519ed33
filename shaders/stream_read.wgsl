// Pure streaming read: the roofline reference for the decode step. Each thread sums vec4<u32>
// words (wrapping u32 adds) at a grid stride and writes its own partial (no barriers: a
// workgroup reduction costs CPU drivers more than the read), so the only memory traffic is
// reading `src` once. With VEC > 1 a thread issues VEC independent loads per iteration, each a
// grid stride apart (so neighbouring threads still read neighbouring words), which lets a GPU
// keep more loads in flight per thread; the tail of fewer than VEC strides is read one at a time.
// With BLOCKED, each workgroup instead reads its own contiguous block of ceil(n4 / workgroups)
// words, its threads WG words apart: a CPU driver runs a workgroup on one core, which then
// reads its block front to back instead of loads 16 x WG x workgroups bytes apart.
//
// Bindings (group 0):
//   0  src      storage, read       array<vec4<u32>>  [n4]
//   1  partial  storage, read_write array<u32>        [WG * number of workgroups]
//   2  params   uniform             { n4: u32, stride: u32 }   stride = WG * workgroups
// Dispatch: (workgroups, 1, 1) of WG threads.

override WG: u32 = 256u;
// vec4 loads per thread per iteration, 1..8
override VEC: u32 = 1u;
// contiguous blocks per workgroup instead of a grid stride
override BLOCKED: bool = false;

struct Params {
  n4: u32,
  stride: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> partial: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  // [i, end) at steps of `stride`: the whole buffer at the grid stride, or this workgroup's block
  var i = gid.x;
  var end = params.n4;
  var stride = params.stride;
  if (BLOCKED) {
    let workgroups = params.stride / WG;
    let per = (params.n4 + workgroups - 1u) / workgroups;
    let start = min(wid.x * per, params.n4);
    end = min(start + per, params.n4);
    i = start + lid.x;
    stride = WG;
  }
  var acc = vec4<u32>(0u);
  // whole groups of VEC loads: the last one's index i + (VEC - 1) * stride is below end
  // (compared as a difference so that it cannot wrap)
  let span = (VEC - 1u) * stride;
  if (end > span) {
    for (; i < end - span; i += VEC * stride) {
      for (var j = 0u; j < VEC; j++) {
        acc += src[i + j * stride];
      }
    }
  }
  for (; i < end; i += stride) {
    acc += src[i];
  }
  partial[gid.x] = acc.x + acc.y + acc.z + acc.w;
}
