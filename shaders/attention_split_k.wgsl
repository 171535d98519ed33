// What every split-K decode pass shares (attention_decode.wgsl, attention_decode_rope.wgsl and
// their 'lanes' variants; src/kernels/attention.ts appends it to each of their modules). The
// including shader declares HD, CHUNK and WG, binds `partO` and `partML` as attention_decode.wgsl
// documents them, `step` and `params`, and declares `p: array<f32, CHUNK>` in workgroup memory
// (attention_partials.wgsl and attention_lanes.wgsl do).

// The keys of one workgroup's chunk: the keys of it its row and head see, as a Seen map (t in
// [0, seen.n) -> key; empty when seen.n == 0), and its partials go to partO / partML entry slot.
// Index t also places key seenKey(seen, t) in `p` (n <= CHUNK: distinct keys of the chunk).
struct Chunk {
  seen: Seen,
  slot: u32,
}

// Chunk c of the dispatch for token m (position step.pos0 + m) and query head h; chunks are
// counted from windowStart(step.pos0) / CHUNK, the first one any row of the step sees. Its keys
// [lo, hi) in the row's window, cut to those head h sees (seenKeys: whole runs of keys in blocks
// of a sparse pattern the head does not see are left out, never read). When it has none, writes
// its empty partials (all threads of the workgroup together); the caller then has nothing left
// to do.
fn splitKChunk(lid: u32, c: u32, h: u32, m: u32) -> Chunk {
  let pos = step.pos0 + m;
  let j0 = (windowStart(step.pos0) / CHUNK + c) * CHUNK;
  let lo = max(windowStart(pos), j0);
  let hi = min(pos + 1u, j0 + CHUNK);
  let seen = seenKeys(h, pos, lo, hi);
  let slot = (m * params.nHeads + h) * params.maxChunks + c;
  if (seen.n == 0u) {
    emptyPartials(lid, slot);
  }
  return Chunk(seen, slot);
}

// The partials of a chunk with no key visible to its row and head: (NEG, 0) and zeros. Every
// merge (attention_merge.wgsl, matvec_merge.wgsl) weighs them by exp(NEG - M) = 0 and adds 0 to
// the sums, without a NaN: M is the max over the chunks, and the chunk of key pos always has a
// real score (pos sees itself: its own block is local, L >= 1).
fn emptyPartials(lid: u32, slot: u32) {
  for (var d = lid; d < HD; d += WG) {
    partO[slot * HD + d] = 0.0;
  }
  if (lid == 0u) {
    partML[slot] = vec2<f32>(NEG, 0.0);
  }
}

// Step 2 of the partials: p[t] = exp(s_t - mc) for the n seen keys, one key per thread
// (strided); returns this thread's sum of them, for the workgroup sum. The stores of the scores in
// p must be ordered before (a barrier).
fn expWeights(lid: u32, n: u32, mc: f32) -> f32 {
  var sum = 0.0;
  for (var t = lid; t < n; t += WG) {
    let e = exp(p[t] - mc);
    p[t] = e;
    sum += e;
  }
  return sum;
}
