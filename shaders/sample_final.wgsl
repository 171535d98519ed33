// Sampling pass 2 of 2, one workgroup: merge the chunks of pass 1, pick the token, report.
//   greedy (T == 0):           the best (max z, smallest id) of the chunks' bests.
//   full draw (T > 0, top-k off, top-p >= 1): exact inverse CDF over the whole vocab in id
//                               order: the chunk by its mass, then the block, then the token.
//   ranked (T > 0 otherwise):  the global top nc of the chunks' candidates (radix select),
//                               rank sort, top-k, top-p (nucleus mass normalized over the
//                               top-k survivors when top-k is on, over the full vocab when off),
//                               inverse CDF over the kept prefix.
// The top n_top logprobs, log softmax(z) over the full vocab, whenever n_top > 0.
// Then: next_id[0] = id, history[step % window] = id, and the result record.
//
// Module = sample_common.wgsl + this file.
// Bindings (group 0):
//   0  partials    storage, read        array<vec4<u32>>  [nWG] from pass 1
//   1  candidates  storage, read        array<vec2<u32>>  [nWG * CAP] from pass 1
//   2  zkeys       storage, read        array<u32>        [vocab] from pass 1 (full-draw mode)
//   3  history     storage, read_write  array<u32>        ring; history[step % window] = id
//   4  next_id     storage, read_write  array<u32>        [>= 1]; id at index 0 (next step's token input)
//   5  result      storage, read_write  array<u32>        [4 + 2 * CAP]: id, n_top written, bits(u),
//                                                         n_keep, then n_top pairs (id, bits(logprob))
//   6  params      uniform             Params (sample_common.wgsl)
// Dispatch: (1, 1, 1), WG threads.

@group(0) @binding(0) var<storage, read> partials: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> candidates: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> zkeys: array<u32>;
@group(0) @binding(3) var<storage, read_write> history: array<u32>;
@group(0) @binding(4) var<storage, read_write> next_id: array<u32>;
@group(0) @binding(5) var<storage, read_write> result: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> sk: array<u32, CAP>;    // candidate keys, then sorted
var<workgroup> sid: array<u32, CAP>;   // candidate ids

var<workgroup> shared_part: Part;
var<workgroup> shared_f: f32;

var<private> g_nc: u32;

const MAX_PER_THREAD: u32 = 8u;   // the largest CAP / WG

fn block_len(w: u32) -> u32 {
  return min(CHUNK, params.vocab - w * CHUNK);
}

// Candidate positions are dense: q -> block q / nc, slot q % nc.
fn elem_valid(q: u32) -> bool {
  return q % g_nc < min(g_nc, block_len(q / g_nc));
}

fn elem(q: u32) -> vec2<u32> {
  return candidates[(q / g_nc) * CAP + q % g_nc];
}

fn emit(slot: u32, k: u32, id: u32) {
  sk[slot] = k;
  sid[slot] = id;
}

fn chunk_part(w: u32) -> Part {
  let p = partials[w];
  return Part(p.x, p.z, bitcast<f32>(p.y));
}

// Inverse CDF over the whole vocab in id order (u in [0, 1), zfull = total mass relative to
// the max m); returns the id in thread 0.
fn draw_full(lid: u32, nwg: u32, m: f32, zfull: f32, u: f32) -> u32 {
  // 1. the chunk: walk the chunk masses in order (the last nonzero one if rounding runs out)
  let goal = u * zfull;
  if (lid == 0u) {
    var base = 0.0;
    var w = 0u;
    var w_last = 0u;
    var base_last = 0.0;
    for (; w < nwg; w++) {
      let c = chunk_part(w);
      if (c.k <= KEY_NEG_INF) {
        continue;
      }
      let mass = c.s * exp(max(from_key(c.k) - m, -200.0));
      if (base + mass > goal) {
        break;
      }
      if (mass > 0.0) {
        w_last = w;
        base_last = base;
      }
      base += mass;
    }
    if (w == nwg) {
      w = w_last;
      base = base_last;
    }
    shared_u.x = w;
    shared_f = base;
  }
  workgroupBarrier();
  let w = shared_u.x;

  // 2. the token inside chunk w, in pass 1's terms exp(z - max_w) with the goal rescaled to
  //    them: each thread sums a block of CHUNK / WG, a walk over the block sums, then the block
  let mw = from_key(partials[w].x);
  let goal_w = (goal - shared_f) / exp(max(mw - m, -200.0));
  let start = w * CHUNK;
  let len = block_len(w);
  let per = CHUNK / WG;
  var s = 0.0;
  for (var i = lid * per; i < min(lid * per + per, len); i++) {
    s += exp_rel(zkeys[start + i], mw);
  }
  ex[lid] = s;
  workgroupBarrier();
  let blocks = (len + per - 1u) / per;
  var pick = 0u;
  if (lid == 0u) {
    var hit = walk(goal_w, blocks, false);
    if (hit.r == NO_ID) {
      // rounding ran past the chunk's end: its last nonzero block
      hit.r = 0u;
      hit.before = 0.0;
      var c = 0.0;
      for (var b = 0u; b < blocks; b++) {
        if (ex[b] > 0.0) {
          hit.r = b;
          hit.before = c;
        }
        c += ex[b];
      }
    }
    pick = start + hit.r * per;
    var within = hit.before;
    for (var i = hit.r * per; i < min(hit.r * per + per, len); i++) {
      let e = exp_rel(zkeys[start + i], mw);
      if (e > 0.0) {
        pick = start + i;
        within += e;
        if (within > goal_w) {
          break;
        }
      }
    }
  }
  return pick;
}

// Sorts the n candidates in (sk, sid) so that better() holds from each rank to the next: each
// one's rank is the number of candidates better than it (ids are distinct, so ranks are too).
fn rank_sort(lid: u32, n: u32) {
  workgroupBarrier();
  var k: array<u32, MAX_PER_THREAD>;
  var id: array<u32, MAX_PER_THREAD>;
  var rank: array<u32, MAX_PER_THREAD>;
  for (var e = 0u; e < CAP / WG; e++) {
    let r = lid + e * WG;
    k[e] = sk[r];
    id[e] = sid[r];
    rank[e] = 0u;
    if (r < n) {
      for (var j = 0u; j < n; j++) {
        if (better(sk[j], sid[j], k[e], id[e])) {
          rank[e]++;
        }
      }
    }
  }
  workgroupBarrier();
  for (var e = 0u; e < CAP / WG; e++) {
    if (lid + e * WG < n) {
      sk[rank[e]] = k[e];
      sid[rank[e]] = id[e];
    }
  }
  workgroupBarrier();
}

// Top-k, top-p and the draw over the sorted candidates: returns (rank, n_keep) in thread 0.
fn draw_ranked(lid: u32, m: f32, zfull: f32, u: f32) -> vec2<u32> {
  let kc = top_k_survivors();
  for (var r = lid; r < kc; r += WG) {
    ex[r] = exp_rel(sk[r], m);
  }
  workgroupBarrier();
  var d = vec2<u32>(0u, 1u);
  if (lid == 0u) {
    // nucleus: the shortest prefix of the kc survivors with mass >= top_p (at least one
    // token), the mass normalized over the survivors when top-k is on, over the full vocab when off
    let total = walk(FLT_MAX, kc, false).before;
    var n_keep = kc;
    var mass = total;
    if (params.top_p < 1.0) {
      let hit = walk(params.top_p * select(zfull, total, top_k_on()), kc, true);
      if (hit.r != NO_ID) {
        n_keep = hit.r + 1u;
        mass = hit.before + ex[hit.r];
      }
    }
    // draw: first rank whose cumulative mass exceeds u * (mass of the kept prefix)
    let r = walk(u * mass, n_keep, false).r;
    d = vec2<u32>(min(r, n_keep - 1u), n_keep);
  }
  return d;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let nwg = (params.vocab + CHUNK - 1u) / CHUNK;

  // 1. merge the chunks in order (thread 0): global best (greedy's pick) and the full-vocab
  //    sum of exp(z - max)
  if (lid == 0u) {
    var acc = Part(0u, NO_ID, 0.0);
    for (var w = 0u; w < nwg; w++) {
      acc = merge(acc, chunk_part(w));
    }
    shared_part = acc;
  }
  workgroupBarrier();
  let best = shared_part;
  let m = from_key(best.k);
  let zfull = best.s;
  let greedy = is_greedy();
  var u = 0.0;
  if (!greedy) {
    u = draw_u();
  }
  var id = best.i;
  var n_keep = 1u;

  // 2. full-vocab draw
  if (full_draw()) {
    id = draw_full(lid, nwg, m, zfull, u);
    n_keep = params.vocab;
  }

  // 3. candidates: global top nc, sorted; ranked draw; top logprobs
  let nc = n_cand();
  var n_out = 0u;
  if (nc > 0u) {
    g_nc = nc;
    select_top(lid, nwg * nc, nc);
    rank_sort(lid, nc);
    if (!greedy && !full_draw()) {
      let d = draw_ranked(lid, m, zfull, u);
      id = sid[d.x];
      n_keep = d.y;
    }
    n_out = min(params.n_top, nc);
    let log_z = log(zfull);
    for (var r = lid; r < n_out; r += WG) {
      result[4u + 2u * r] = sid[r];
      result[5u + 2u * r] = bitcast<u32>((from_key(sk[r]) - m) - log_z);
    }
  }

  // 4. outputs (id is valid in thread 0)
  if (lid == 0u) {
    next_id[0] = id;
    result[0] = id;
    result[1] = n_out;
    result[2] = bitcast<u32>(u);
    result[3] = n_keep;
    if (params.window > 0u) {
      history[params.step % params.window] = id;
    }
  }
}
