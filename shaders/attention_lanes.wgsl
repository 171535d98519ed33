// The split-K partials of one (chunk, head) workgroup with lanes along the head dimension, shared
// by attention_decode_lanes.wgsl and attention_decode_rope_lanes.wgsl (the 'lanes' decode variant
// of src/kernels/attention.ts); same results and partO / partML layout as attention_partials.wgsl,
// so attention_merge.wgsl combines them unchanged.
//
// Layout of the work: a cache row of HD f16 is NV vectors of VW u32 words (KV: vec4<u32>,
// vec2<u32> or u32, 8, 4 or 2 f16); a q8_0 row is NV vectors of 8 dims (VW = 4), each loaded as
// its two quant words and its block's scale (kv_lanes_q8_0.wgsl). kvVecPair(x, i) gives pair i of
// a loaded vector either way. The WG threads form G = WG / LPK groups of LPK lanes; a
// group works on one key at a time and lane l of it on the row's vectors l, l + LPK, ..., (R of
// them, the last round partial when LPK does not divide NV). So the lanes of a group read one
// row contiguously, a subgroup reads whole rows, and no lane idles when LPK divides NV.
// The keys are those of the chunk the row and head see (splitKChunk's Seen map, key number t);
// "key j" below is key seenKey(seen, t), its score and weight at p[t].
//   1. scores: each lane dots its vectors of k_j with the same slice of q (kept in registers),
//      groupSum adds the LPK lane sums; the group's lane 0 stores s_j in p; wsMax: the max.
//   2. weights exp(s_j - mc) in p, one key per thread; wsSum: their sum.
//   3. sum_j p_j v_j: group g takes keys t = g, g + G, ... and each lane accumulates its
//      vectors of v_j in registers; the G group sums meet in workgroup memory (accS), and
//      thread w adds word w's G entries in group order.
// Rounding: each score is an HD-term sum (any order; the same bound as attention_partials.wgsl),
// each weight one exp, and sum_j p_j v_j adds n terms through per-group sums then the G group
// sums, n - 1 rounded f32 additions whatever the tree: the error bounds of the 'keys' pass hold.
//
// Module (src/kernels/attention.ts): [enable subgroups;] + the generated constants (HD, NW, CHUNK,
// WG, VW, NV, LPK, R, G, SHUFFLE, alias KV, KVC, kvWord, kvWith) + Step + Params + attention_common.wgsl
// + kv_f16.wgsl or kv_q8_0.wgsl + kv_lanes_f16.wgsl or kv_lanes_q8_0.wgsl
// + attention_lanes_subgroup.wgsl or attention_lanes_workgroup.wgsl (LaneIds, groupSumShuffle,
// wsMax, wsSum) + the pass's own file (its bindings, qs, keyVec, valueVec, main) + this file +
// attention_split_k.wgsl (Chunk, splitKChunk, emptyPartials, expWeights); the pass's own file is
// followed by attention_decode_query.wgsl in the plain pass, and preceded by RopeParams +
// rope_common.wgsl + attention_decode_rope_common.wgsl in the fused RoPE pass.
// The including pass gives the keys and values of its kv head by vector:
//   keyVec(base, j, v) -> KV     vector v of k_j (words v VW .. v VW + VW - 1 of the row)
//   valueVec(base, j, v) -> KV   vector v of v_j
// where base is the first vector of that kv head, and fills qs with q * scale before calling.

var<workgroup> p: array<f32, CHUNK>;
var<workgroup> red: array<f32, WG>;
var<workgroup> dred: array<f32, WG>;
var<workgroup> accS: array<vec2<f32>, G * NW>;

// Sum over the LPK lanes of a group, in every lane of it. Called from workgroup-uniform control
// flow by every thread. Through subgroup shuffles where a group lies within one subgroup
// (SHUFFLE: LPK <= the adapter's smallest subgroup), else through workgroup memory.
fn groupSum(ids: LaneIds, s: f32) -> f32 {
  if (LPK == 1u) {
    return s;
  }
  if (SHUFFLE) {
    return groupSumShuffle(ids, s);
  }
  dred[ids.lid] = s;
  workgroupBarrier();
  let first = ids.lid / LPK * LPK;
  var t = 0.0;
  for (var k = 0u; k < LPK; k++) {
    t += dred[first + k];
  }
  workgroupBarrier();
  return t;
}

// Over the keys of a chunk its row and head see (the Seen map of splitKChunk, n > 0 keys, key
// number t in p[t]; only their rows are read; see the header):
//   partML[slot] = (mc, lc)   mc = max s_j,  lc = sum exp(s_j - mc)
//   partO[slot]  = sum exp(s_j - mc) v_j
fn chunkPartialsLanes(ids: LaneIds, slot: u32, base: u32, seen: Seen) {
  let n = seen.n;
  let lid = ids.lid;
  let lane = lid % LPK;
  let g = lid / LPK;

  // This lane's slice of q * scale: dims 2w, 2w + 1 for each of its words w.
  var qr: array<vec2<f32>, R * VW>;
  for (var r = 0u; r < R; r++) {
    let v = lane + r * LPK;
    for (var i = 0u; i < VW; i++) {
      let w = min(v, NV - 1u) * VW + i;
      qr[r * VW + i] = select(vec2<f32>(0.0), vec2<f32>(qs[2u * w], qs[2u * w + 1u]), v < NV);
    }
  }

  // 1. Scores, and their max. Every thread runs every round (groupSum is collective).
  var mx = NEG;
  for (var tb = 0u; tb < n; tb += G) {
    let t = tb + g;
    var s = 0.0;
    if (t < n) {
      let j = seenKey(seen, t);
      for (var r = 0u; r < R; r++) {
        let v = lane + r * LPK;
        if (v < NV) {
          let x = keyVec(base, j, v);
          for (var i = 0u; i < VW; i++) {
            let k = kvVecPair(x, i);
            let qq = qr[r * VW + i];
            s += qq.x * k.x + qq.y * k.y;
          }
        }
      }
    }
    s = groupSum(ids, s);
    if (t < n) {
      if (lane == 0u) {
        p[t] = s;
      }
      mx = max(mx, s);
    }
  }
  let mc = wsMax(ids, mx);

  // 2. Weights exp(s - mc), and their sum (wsMax's barriers order the stores of p before).
  let lc = wsSum(ids, expWeights(lid, n, mc));

  // 3. sum_j p_j v_j (wsSum's barrier orders the weights before).
  var acc: array<vec2<f32>, R * VW>;
  for (var t = g; t < n; t += G) {
    let pj = p[t];
    let j = seenKey(seen, t);
    for (var r = 0u; r < R; r++) {
      let v = lane + r * LPK;
      if (v < NV) {
        let x = valueVec(base, j, v);
        for (var i = 0u; i < VW; i++) {
          acc[r * VW + i] += pj * kvVecPair(x, i);
        }
      }
    }
  }
  for (var r = 0u; r < R; r++) {
    let v = lane + r * LPK;
    if (v < NV) {
      for (var i = 0u; i < VW; i++) {
        accS[g * NW + v * VW + i] = acc[r * VW + i];
      }
    }
  }
  workgroupBarrier();
  for (var w = lid; w < NW; w += WG) {
    var o = vec2<f32>(0.0);
    for (var gg = 0u; gg < G; gg++) {
      o += accS[gg * NW + w];
    }
    partO[slot * HD + 2u * w] = o.x;
    partO[slot * HD + 2u * w + 1u] = o.y;
  }
  if (lid == 0u) {
    partML[slot] = vec2<f32>(mc, lc);
  }
}
