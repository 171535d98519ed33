// What every split-K decode pass shares (attention_decode.wgsl, attention_decode_rope.wgsl and
// their 'lanes' variants; src/kernels/attention.ts appends it to each of their modules). The
// including shader declares HD, CHUNK and WG, binds `partO` and `partML` as attention_decode.wgsl
// documents them, `step` and `params`, and declares `p: array<f32, CHUNK>` in workgroup memory
// (attention_partials.wgsl and attention_lanes.wgsl do).

// The keys of one workgroup's chunk: it starts at key j0, keys [lo, hi) of it are visible to its
// row (empty when lo >= hi), and its partials go to partO / partML entry slot.
struct Chunk {
  j0: u32,
  lo: u32,
  hi: u32,
  slot: u32,
}

// Chunk c of the dispatch for token m (position step.pos0 + m) and query head h; chunks are
// counted from windowStart(step.pos0) / CHUNK, the first one any row of the step sees. When no key
// of it is visible to the row, writes its empty partials (all threads of the workgroup together);
// the caller then has nothing left to do.
fn splitKChunk(lid: u32, c: u32, h: u32, m: u32) -> Chunk {
  let pos = step.pos0 + m;
  let j0 = (windowStart(step.pos0) / CHUNK + c) * CHUNK;
  let lo = max(windowStart(pos), j0);
  let hi = min(pos + 1u, j0 + CHUNK);
  let slot = (m * params.nHeads + h) * params.maxChunks + c;
  if (lo >= hi) {
    emptyPartials(lid, slot);
  }
  return Chunk(j0, lo, hi, slot);
}

// The partials of a chunk with no key visible to its row: (NEG, 0) and zeros, which the merge
// (attention_merge.wgsl) weighs by 0.
fn emptyPartials(lid: u32, slot: u32) {
  for (var d = lid; d < HD; d += WG) {
    partO[slot * HD + d] = 0.0;
  }
  if (lid == 0u) {
    partML[slot] = vec2<f32>(NEG, 0.0);
  }
}

// Step 2 of the partials: p[j - j0] = exp(s_j - mc) for the visible keys, one key per thread
// (strided); returns this thread's sum of them, for the workgroup sum. The stores of the scores in
// p must be ordered before (a barrier).
fn expWeights(lid: u32, lo: u32, hi: u32, j0: u32, mc: f32) -> f32 {
  var sum = 0.0;
  for (var j = lo + lid; j < hi; j += WG) {
    let e = exp(p[j - j0] - mc);
    p[j - j0] = e;
    sum += e;
  }
  return sum;
}
