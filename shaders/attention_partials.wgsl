// The split-K partials of one (chunk, head, token) workgroup, shared by attention_decode.wgsl and
// attention_decode_rope.wgsl; src/kernels/attention.ts appends it to them (after
// attention_common.wgsl and workgroup_reduce.wgsl, whose `red` it declares).
// The including shader declares `override HD, CHUNK, WG`, binds `partO` and `partML` as
// attention_decode.wgsl documents them, and gives the keys and values of its kv head:
//   score(base, j) -> f32            (q . k_j) * scale, summed over the HD/2 dim pairs in order
//   value(base, j, w) -> vec2<f32>   dims 2w, 2w + 1 of v_j
// where base is the first cache word of that kv head. expWeights (step 2) and emptyPartials (for a
// chunk with no visible key) come from attention_split_k.wgsl, appended after this file.

var<workgroup> p: array<f32, CHUNK>;
var<workgroup> red: array<f32, WG>;
var<workgroup> acc: array<vec2<f32>, WG>;

// Over the keys of a chunk its row and head see (the Seen map of splitKChunk, n > 0 keys, key
// number t in p[t]):
//   partML[slot] = (mc, lc)   mc = max s_j,  lc = sum exp(s_j - mc)
//   partO[slot]  = sum exp(s_j - mc) v_j
// Threads: scores one key per thread (strided), tree reductions for max and sum, then
// WG / (HD/2) groups of HD/2 threads each sum p_j v_j over a share of the keys, two dims a thread.
// Only the rows of seen keys are read. Dense, key t is lo + t: the same keys and order as a loop
// over [lo, hi).
fn chunkPartials(lid: u32, slot: u32, base: u32, seen: Seen) {
  let NW = HD / 2u;
  let n = seen.n;

  // 1. Scores, and their max.
  var mx = NEG;
  for (var t = lid; t < n; t += WG) {
    let s = score(base, seenKey(seen, t));
    p[t] = s;
    mx = max(mx, s);
  }
  let mc = wg_max(lid, mx);

  // 2. Weights exp(s - mc), and their sum.
  let lc = wg_sum(lid, expWeights(lid, n, mc));

  // 3. sum_j p_j v_j: group g takes keys g, g + groups, ... of the map; thread w two dims.
  let groups = WG / NW;
  let g = lid / NW;
  let w = lid % NW;
  var a = vec2<f32>(0.0);
  if (g < groups) {
    for (var t = g; t < n; t += groups) {
      a += p[t] * value(base, seenKey(seen, t), w);
    }
  }
  acc[lid] = a;
  workgroupBarrier();
  if (lid < NW) {
    var o = vec2<f32>(0.0);
    for (var gg = 0u; gg < groups; gg++) {
      o += acc[gg * NW + lid];
    }
    partO[slot * HD + 2u * lid] = o.x;
    partO[slot * HD + 2u * lid + 1u] = o.y;
  }
  if (lid == 0u) {
    partML[slot] = vec2<f32>(mc, lc);
  }
}
