// Pure streaming read: the roofline reference for the decode step. Each thread sums vec4<u32>
// words (wrapping u32 adds) at a grid stride and writes its own partial (no barriers: a
// workgroup reduction costs CPU drivers more than the read), so the only memory traffic is
// reading `src` once.
//
// Bindings (group 0):
//   0  src      storage, read       array<vec4<u32>>  [n4]
//   1  partial  storage, read_write array<u32>        [WG * number of workgroups]
//   2  params   uniform             { n4: u32, stride: u32 }   stride = WG * workgroups
// Dispatch: (workgroups, 1, 1) of WG threads.

override WG: u32 = 256u;

struct Params {
  n4: u32,
  stride: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> partial: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  var acc = vec4<u32>(0u);
  for (var i = gid.x; i < params.n4; i += params.stride) {
    acc += src[i];
  }
  partial[gid.x] = acc.x + acc.y + acc.z + acc.w;
}
