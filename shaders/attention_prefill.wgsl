// Attention, tiled causal path for prefill steps (M up to the prefill chunk): a workgroup owns
// BQ query rows of one head, walks the key tiles of BK positions those rows can see, and keeps
// an online softmax (running max, running sum, rescaled output) per row in registers.
//
// Query row m sits at position pos = step.pos0 + m and sees keys j with
//   j <= pos  and  (window == 0 or pos - j < window)                  (PHI3.md 2.4)
// att[m, h] = sum_j softmax_j(q . k_j * scale) v_j. GQA: query head h reads kv head h / (nHeads / nKvHeads).
// With a block-sparse pattern (Params.sparseBlock != 0), row m of head h also needs keySeen: the
// key's block local to the row's block or vertical for h (attention_common.wgsl).
// Tiles wholly masked for every row of the workgroup (after the last row's position, before the
// first row's window, or in blocks no row of it sees) are not visited; partly masked ones are
// masked per row, and within them the rows of keys in blocks no row sees are not loaded.
//
// Bindings (group 0):
//   0  q       storage, read        array<f32>  [M, nHeads * HD]
//   1  kCache  storage, read        array<u32>  [nKvHeads, maxCtx, kvRowWords()]  rows of kv_f16.wgsl or kv_q8_0.wgsl
//   2  vCache  storage, read        array<u32>  [nKvHeads, maxCtx, kvRowWords()]
//   3  att     storage, read_write  array<f32>  [M, nHeads * HD]
//   4  step    uniform  Step (struct prepended from src/kernels/step.ts)
//   5  params  uniform  Params (struct prepended from AttentionKernel.uniforms, src/kernels/attention.ts)
// Dispatch: (ceil(M / BQ), nHeads, 1) workgroups of BQ * TPR threads.
// Threads: TPR threads per query row; for scores thread t of a row takes keys t, t + TPR, ...;
// for the output it owns words (dim pairs) t, t + TPR, ... (at most MAX_WPT of them).
// Workgroup memory: Q tile BQ*HD f32, one K-or-V tile of BK cache rows, at most BK*HD/2 u32 (K,
// then V reuses it; staged as the cache stores them and decoded by kvPair where read),
// scores BQ*BK f32: 14 KiB at HD 96, BQ 16, BK 32.
// Module = Step + Params + attention_common.wgsl + kv_f16.wgsl or kv_q8_0.wgsl + this file.

override HD: u32 = 96u;
override BQ: u32 = 16u;
override BK: u32 = 32u;
override TPR: u32 = 8u;

const MAX_WPT: u32 = 16u;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kCache: array<u32>;
@group(0) @binding(2) var<storage, read> vCache: array<u32>;
@group(0) @binding(3) var<storage, read_write> att: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> qs: array<f32, BQ * HD>;
var<workgroup> kv: array<u32, BK * HD / 2>;
var<workgroup> ps: array<f32, BQ * BK>;

@compute @workgroup_size(BQ * TPR)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let WG = BQ * TPR;
  let NW = HD / 2u;
  let h = wid.y;
  let row0 = wid.x * BQ;
  if (row0 >= step.nTokens) {
    return;
  }
  let rows = min(BQ, step.nTokens - row0);
  let r = lid / TPR;
  let tc = lid % TPR;
  let pos = step.pos0 + row0 + r;
  // This thread's row sees keys [rowLo, rowHi); rows past the step see none.
  let rowLo = windowStart(pos);
  let rowHi = select(0u, pos + 1u, r < rows);
  // The workgroup's rows together see keys [tileLo, tileHi).
  let tileLo = windowStart(step.pos0 + row0);
  let tileHi = step.pos0 + row0 + rows;
  let RW = kvRowWords();
  let base = (h / (params.nHeads / params.nKvHeads)) * params.maxCtx * RW;

  for (var i = lid; i < BQ * HD; i += WG) {
    let rr = i / HD;
    var v = 0.0;
    if (rr < rows) {
      v = q[((row0 + rr) * params.nHeads + h) * HD + i % HD] * params.scale;
    }
    qs[i] = v;
  }

  var mrow = NEG;
  var lrow = 0.0;
  var o: array<vec2<f32>, MAX_WPT>;

  // Key tiles [t0, t0 + BK): from the one holding the first key some row sees to the next such
  // one (nextSeenKey from the first row's block b0: keySeen(h, b0, j) is "some row of the
  // workgroup sees key j", attention_common.wgsl), so tiles of blocks no row sees are skipped.
  // t0 is the same for every thread.
  let b0 = queryBlock(step.pos0 + row0);
  let myBlock = queryBlock(pos);
  var t0 = (nextSeenKey(h, b0, tileLo) / BK) * BK;
  loop {
    if (t0 >= tileHi) {
      break;
    }
    workgroupBarrier(); // Q is staged; the previous tile is done with kv and ps
    let tn = min(BK, tileHi - t0);
    // Rows of keys no row sees are not loaded: their slots keep stale words, which no row reads
    // (each row's keys are among those some row sees).
    for (var i = lid; i < tn * RW; i += WG) {
      if (keySeen(h, b0, t0 + i / RW)) {
        kv[i] = kCache[base + t0 * RW + i];
      }
    }
    workgroupBarrier();

    // Keys of this tile visible to my row, as local indices [a, b).
    let a = select(0u, rowLo - t0, rowLo > t0);
    let b = select(0u, min(rowHi - t0, BK), rowHi > t0);
    for (var jl = tc; jl < BK; jl += TPR) {
      if (jl >= a && jl < b && keySeen(h, myBlock, t0 + jl)) {
        var s = 0.0;
        for (var w = 0u; w < NW; w++) {
          let k = kvPair(kv[jl * RW + kvPairWord(w)], kv[jl * RW + kvScaleWord(w)], w);
          s += qs[r * HD + 2u * w] * k.x + qs[r * HD + 2u * w + 1u] * k.y;
        }
        ps[r * BK + jl] = s;
      }
    }
    workgroupBarrier();

    // K is no longer needed: stage V in its place while each row finds its tile max.
    for (var i = lid; i < tn * RW; i += WG) {
      if (keySeen(h, b0, t0 + i / RW)) {
        kv[i] = vCache[base + t0 * RW + i];
      }
    }
    var mt = NEG;
    for (var jl = a; jl < b; jl++) {
      if (keySeen(h, myBlock, t0 + jl)) {
        mt = max(mt, ps[r * BK + jl]);
      }
    }
    let mnew = max(mrow, mt);
    let alpha = exp(mrow - mnew);
    workgroupBarrier(); // every thread of the row has read the raw scores

    for (var jl = tc; jl < BK; jl += TPR) {
      if (jl >= a && jl < b && keySeen(h, myBlock, t0 + jl)) {
        ps[r * BK + jl] = exp(ps[r * BK + jl] - mnew);
      }
    }
    workgroupBarrier();

    var lt = 0.0;
    for (var x = 0u; x < MAX_WPT; x++) {
      o[x] *= alpha;
    }
    for (var jl = a; jl < b; jl++) {
      if (!keySeen(h, myBlock, t0 + jl)) {
        continue;
      }
      let pj = ps[r * BK + jl];
      lt += pj;
      for (var x = 0u; x * TPR + tc < NW; x++) {
        let w = x * TPR + tc;
        o[x] += pj * kvPair(kv[jl * RW + kvPairWord(w)], kv[jl * RW + kvScaleWord(w)], w);
      }
    }
    lrow = lrow * alpha + lt;
    mrow = mnew;
    t0 = (nextSeenKey(h, b0, t0 + BK) / BK) * BK;
  }

  if (r < rows) {
    let inv = select(0.0, 1.0 / lrow, lrow > 0.0);
    let dst = ((row0 + r) * params.nHeads + h) * HD;
    for (var x = 0u; x * TPR + tc < NW; x++) {
      let w = x * TPR + tc;
      att[dst + 2u * w] = o[x].x * inv;
      att[dst + 2u * w + 1u] = o[x].y * inv;
    }
  }
}
