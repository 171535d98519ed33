// Attention, split-K pass ("flash-decoding") for steps of few tokens: the visible keys are cut
// into chunks of CHUNK positions, one workgroup per (chunk, head, token) computes the chunk's
// softmax statistics and its unnormalized weighted V (attention_partials.wgsl, appended);
// attention_merge.wgsl combines the chunks.
//
// Query row m sits at position pos = step.pos0 + m and sees keys j with
//   j <= pos  and  (window == 0 or pos - j < window)                  (PHI3.md 2.4)
// and, with a block-sparse pattern (Params.sparseBlock != 0), keys of blocks query head h sees
// (attention_common.wgsl: blockSeen); only the rows of those keys are read (splitKChunk).
// scores s_j = (q . k_j) * scale. GQA: query head h reads kv head h / (nHeads / nKvHeads).
// Per (m, h, chunk) it writes, over the chunk's visible keys:
//   partML[slot] = (mc, lc)   mc = max s_j,  lc = sum exp(s_j - mc)
//   partO[slot]  = sum exp(s_j - mc) v_j   (HD floats)
// or (NEG, 0) and zeros when no key of the chunk is visible to row m.
// Chunks are counted from first = windowStart(pos0) / CHUNK, so chunks wholly before every row's
// window are never dispatched: chunk c of the dispatch covers keys [(first + c) CHUNK, +CHUNK).
//
// Bindings (group 0):
//   0  q       storage, read        array<f32>        [M, nHeads * HD]
//   1  kCache  storage, read        array<u32>        [nKvHeads, maxCtx, kvRowWords()]  rows of kv_f16.wgsl or kv_q8_0.wgsl
//   2  vCache  storage, read        array<u32>        [nKvHeads, maxCtx, kvRowWords()]
//   3  partO   storage, read_write  array<f32>        [M, nHeads, maxChunks, HD]
//   4  partML  storage, read_write  array<vec2<f32>>  [M, nHeads, maxChunks]
//   5  step    uniform  Step (struct prepended from src/kernels/step.ts)
//   6  params  uniform  Params (struct prepended from AttentionKernel.uniforms, src/kernels/attention.ts)
// Dispatch: (count, nHeads, M) workgroups of WG threads, count = last - first + 1 chunks with
// last = (kvLen - 1) / CHUNK (src/kernels/attention.ts: decodeChunks).
// Module = Step + Params + attention_common.wgsl + kv_f16.wgsl or kv_q8_0.wgsl + workgroup_reduce.wgsl + this file + attention_decode_query.wgsl
// + attention_partials.wgsl + attention_split_k.wgsl.

override HD: u32 = 96u;
override CHUNK: u32 = 256u;
override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kCache: array<u32>;
@group(0) @binding(2) var<storage, read> vCache: array<u32>;
@group(0) @binding(3) var<storage, read_write> partO: array<f32>;
@group(0) @binding(4) var<storage, read_write> partML: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> qs: array<f32, HD>;

fn score(base: u32, j: u32) -> f32 {
  let NW = HD / 2u;
  let row = base + j * kvRowWords();
  var s = 0.0;
  for (var w = 0u; w < NW; w++) {
    let k = kvPair(kCache[row + kvPairWord(w)], kCache[row + kvScaleWord(w)], w);
    s += qs[2u * w] * k.x + qs[2u * w + 1u] * k.y;
  }
  return s;
}

fn value(base: u32, j: u32, w: u32) -> vec2<f32> {
  let row = base + j * kvRowWords();
  return kvPair(vCache[row + kvPairWord(w)], vCache[row + kvScaleWord(w)], w);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = queryChunk(lid, wid);
  if (c.seen.n == 0u) {
    return;
  }
  let base = (wid.y / (params.nHeads / params.nKvHeads)) * params.maxCtx * kvRowWords();
  chunkPartials(lid, c.slot, base, c.seen);
}
