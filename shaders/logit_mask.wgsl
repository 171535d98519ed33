// Logit mask: logits[ids[i]] = MASKED for each of the `count` ids (Phi-3-small's dummy tokens,
// never to be sampled). MASKED is a large negative finite value, not -inf: WGSL need not handle
// infinities, and the sampler's temperature, penalty and log-softmax keep it finite (it stays far
// below any real logit, and exp(MASKED - max) is 0).
//
// Bindings (group 0):
//   0  ids     storage, read       array<u32>  [count], each < vocab
//   1  logits  storage, read_write array<f32>  [vocab]
//   2  params  uniform             { count: u32 }
// Dispatch: (ceil(count / WG), 1, 1) workgroups of WG threads; thread i masks ids[i].

override WG: u32 = 64u;

const MASKED: f32 = -1e30;

struct Params {
  count: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.count) {
    return;
  }
  logits[ids[i]] = MASKED;
}
