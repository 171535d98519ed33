// Sampling pass 1 of 2, one CHUNK of the vocab per workgroup: repetition penalty, temperature
// (z = penalized logit / T; T = 1 when greedy), then the chunk's best (max z, smallest id),
// its sum of exp(z - max), and its top nc candidates.
//
// Module = sample_common.wgsl + this file.
// Bindings (group 0):
//   0  logits      storage, read        array<f32>        [vocab]
//   1  history     storage, read        array<u32>        ring of recent ids; entries [0, window)
//                                                         count (each distinct id once), ids >= vocab are empty slots
//   2  candidates  storage, read_write  array<vec2<u32>>  [nWG * CAP] (key(z), id): block w holds
//                                                         its top min(nc, len_w), unordered
//   3  partials    storage, read_write  array<vec4<u32>>  [nWG] (key(max z), bits(sum exp(z - max z)), argmax id, 0);
//                                                         the sum is 0 when not needed (greedy without a report)
//   4  zkeys       storage, read_write  array<u32>        [vocab] key(z); written only in full-draw mode
//   5  params      uniform             Params (sample_common.wgsl)
// Dispatch: (nWG = ceil(vocab / CHUNK), 1, 1) workgroups of WG threads.

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> history: array<u32>;
@group(0) @binding(2) var<storage, read_write> candidates: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> partials: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> zkeys: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> penalized: array<atomic<u32>, CHUNK / 32u>;   // bitset over the chunk

// Thread lid owns chunk positions lid + c * WG, c < CHUNK / WG <= MAX_PER; their keys stay in
// registers (every later loop visits only the thread's own positions).
const MAX_PER: u32 = 8u;
var<private> zk: array<u32, MAX_PER>;

var<private> g_start: u32;
var<private> g_len: u32;
var<private> g_block: u32;

fn elem_valid(p: u32) -> bool {
  return p < g_len;
}

// Called with the thread's own positions only.
fn elem(p: u32) -> vec2<u32> {
  return vec2<u32>(zk[p / WG], g_start + p);
}

fn emit(slot: u32, k: u32, id: u32) {
  candidates[g_block * CAP + slot] = vec2<u32>(k, id);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let start = wid.x * CHUNK;
  if (start >= params.vocab) {
    return;
  }
  let len = min(CHUNK, params.vocab - start);
  g_start = start;
  g_len = len;
  g_block = wid.x;

  // 1. mark the chunk's ids that occur in the history window (a set: duplicates count once)
  for (var i = lid; i < CHUNK / 32u; i += WG) {
    atomicStore(&penalized[i], 0u);
  }
  workgroupBarrier();
  if (params.window > 0u && params.penalty != 1.0) {
    for (var j = lid; j < params.window; j += WG) {
      let id = history[j];
      if (id >= start && id - start < len) {
        atomicOr(&penalized[(id - start) >> 5u], 1u << ((id - start) & 31u));
      }
    }
  }
  workgroupBarrier();

  // 2. z = penalty(logit) / T as keys; the chunk's best (largest z, smallest id)
  let t = select(1.0, params.temperature, !is_greedy());
  let full = full_draw();
  var best_k = 0u;
  var best_i = NO_ID;
  for (var i = lid; i < len; i += WG) {
    let raw = logits[start + i];
    let bits = bitcast<u32>(raw);
    var k = KEY_NEG_INF;
    if ((bits & 0x7fffffffu) <= 0x7f800000u && bits != 0xff800000u) {   // not NaN, not -inf
      var l = min(raw, FLT_MAX);
      if ((atomicLoad(&penalized[i >> 5u]) & (1u << (i & 31u))) != 0u) {
        l = select(l * params.penalty, l / params.penalty, l > 0.0);
      }
      k = to_key(l / t);
    }
    zk[i / WG] = k;
    if (full) {
      zkeys[start + i] = k;
    }
    if (k > best_k) {
      best_k = k;
      best_i = start + i;
    }
  }
  let best = argmax_reduce(lid, best_k, best_i, min(WG, len));

  // 3. sum of exp(z - max) over the chunk
  var sumexp = 0.0;
  if (need_sumexp()) {
    let m = from_key(best.x);
    var s = 0.0;
    for (var i = lid; i < len; i += WG) {
      s += exp_rel(zk[i / WG], m);
    }
    sumexp = sum_to_first(lid, s, min(WG, len));
  }
  if (lid == 0u) {
    partials[wid.x] = vec4<u32>(best.x, bitcast<u32>(sumexp), best.y, 0u);
  }

  // 4. the chunk's top nc
  let nc = min(n_cand(), len);
  if (nc > 0u) {
    select_top(lid, len, nc);
  }
}
