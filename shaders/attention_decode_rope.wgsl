// Attention, split-K pass for one decoded token with RoPE and the KV append fused in: the same
// partials as attention_decode.wgsl, but q, k and v come raw from the QKV projection instead of
// from rope_kv.wgsl, saving that dispatch per layer. rope_common.wgsl (prepended) rotates them
// exactly as rope_kv.wgsl does, so the cache holds the same bits either way.
//
// The step has one token at pos = step.pos0 (the engine uses it for M = 1 only). Workgroup
// (chunk c, head h):
//   - rotates q_h (times scale) into workgroup memory;
//   - if its chunk holds pos: rotates k and takes v of kv head h / group for position pos,
//     encoded exactly as the cache stores them (f16, or q8_0 rows), and uses these for key pos
//     instead of the cache; the first query head of each kv head (h % group == 0) also writes
//     them to the cache.
// No workgroup reads cache row pos, so the writes race with nothing; rows < pos were written by
// earlier steps (ordered before this dispatch).
//
// Bindings (group 0):
//   0  qkv      storage, read        array<f32>        [(nHeads + 2 nKvHeads) * HD]  Q | K | V (raw)
//   1  factors  storage, read        array<f32>        [ropeDim/2]  LongRoPE factors (ones when absent)
//   2  kCache   storage, read_write  array<u32>        [nKvHeads, maxCtx, kvRowWords()]  row pos written
//   3  vCache   storage, read_write  array<u32>        [nKvHeads, maxCtx, kvRowWords()]  row pos written
//   4  partO    storage, read_write  array<f32>        [1, nHeads, maxChunks, HD]
//   5  partML   storage, read_write  array<vec2<f32>>  [1, nHeads, maxChunks]
//   6  step     uniform  Step (struct prepended from src/kernels/step.ts)
//   7  params   uniform  Params (attention, struct prepended from AttentionKernel.uniforms)
//   8  rope     uniform  RopeParams (the rope_kv uniform buffer, struct prepended from RopeKvKernel.uniforms)
// Dispatch: (count, nHeads, 1) workgroups of WG threads, count as in attention_decode.wgsl; then
// attention_merge.wgsl.
// Module = Step + Params + attention_common.wgsl + kv_f16.wgsl or kv_q8_0.wgsl + workgroup_reduce.wgsl
// + RopeParams + rope_common.wgsl + kv_q8_0_quant.wgsl + attention_decode_rope_common.wgsl + this file + attention_partials.wgsl + attention_split_k.wgsl.

override HD: u32 = 96u;
override CHUNK: u32 = 256u;
override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> factors: array<f32>;
@group(0) @binding(2) var<storage, read_write> kCache: array<u32>;
@group(0) @binding(3) var<storage, read_write> vCache: array<u32>;
@group(0) @binding(4) var<storage, read_write> partO: array<f32>;
@group(0) @binding(5) var<storage, read_write> partML: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> rope: RopeParams;

// (cos, sin) per rotated pair; ropeDim/2 <= HD/2 <= HD entries.
var<workgroup> table: array<vec2<f32>, HD>;
var<workgroup> qs: array<f32, HD>;
// The new key and value as the cache row stores them (read back through kvPair like any cached
// row, which also keeps the compiler from folding the rounding away).
var<workgroup> kNew: array<u32, HD>;
var<workgroup> vNew: array<u32, HD>;

// Key pos is the new one, the others come from the cache (same summation order for both).
fn score(base: u32, j: u32) -> f32 {
  let NW = HD / 2u;
  var s = 0.0;
  if (j == step.pos0) {
    for (var w = 0u; w < NW; w++) {
      let k = kvPair(kNew[kvPairWord(w)], kNew[kvScaleWord(w)], w);
      s += qs[2u * w] * k.x + qs[2u * w + 1u] * k.y;
    }
  } else {
    let row = base + j * kvRowWords();
    for (var w = 0u; w < NW; w++) {
      let k = kvPair(kCache[row + kvPairWord(w)], kCache[row + kvScaleWord(w)], w);
      s += qs[2u * w] * k.x + qs[2u * w + 1u] * k.y;
    }
  }
  return s;
}

fn value(base: u32, j: u32, w: u32) -> vec2<f32> {
  var v: vec2<f32>;
  if (j == step.pos0) {
    v = kvPair(vNew[kvPairWord(w)], vNew[kvScaleWord(w)], w);
  } else {
    let row = base + j * kvRowWords();
    v = kvPair(vCache[row + kvPairWord(w)], vCache[row + kvScaleWord(w)], w);
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // 0. RoPE: the (cos, sin) table for pos, then q (scaled) and, in the chunk holding pos, k and v;
  // the cache write of k and v by the first query head of each kv head.
  let r = ropeChunk(lid, wid.x, wid.y);
  let c = r.chunk;
  if (c.seen.n == 0u) {
    return;
  }
  let pos = step.pos0;
  let RW = kvRowWords();
  let base = r.kvh * params.maxCtx * RW;
  if (r.writes) {
    for (var w = lid; w < RW; w += WG) {
      kCache[base + pos * RW + w] = kNew[w];
      vCache[base + pos * RW + w] = vNew[w];
    }
  }

  // 1.-3. Scores, softmax weights and sum p_j v_j (same summation order as attention_decode.wgsl).
  chunkPartials(lid, c.slot, base, c.seen);
}
