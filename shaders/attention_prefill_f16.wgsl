// Attention for prefill steps, 'rows-f16' variant (needs the `shader-f16` feature; the module
// starts with `enable f16;`): the same result and bindings as attention_prefill.wgsl, with
// flash-style rows and f16 products.
//   - one thread per query row, BQ rows per workgroup; the row's q * scale lives in registers as
//     f16 pairs, its output and online softmax (running max, sum) in f32 registers;
//   - the workgroup stages a tile of BK keys and their values as f16 pairs (an f16 cache's words,
//     or a q8_0 cache's q * d rounded to f16; rows read contiguously) in workgroup memory; every row reads the same word at once (a broadcast);
//   - per tile a row computes its BK scores in registers (never stored), the tile max, rescales
//     its output once, then adds p_j v_j with p_j rounded to f16.
// Products are f16 (dot of f16 pairs, p_j * v_j), every sum over dims or keys is f32.
// Masking (window, causal, block-sparse) and the tiles and rows visited are those of
// attention_prefill.wgsl.
//
// Bindings (group 0): as attention_prefill.wgsl.
//   0  q       storage, read        array<f32>  [M, nHeads * HD]
//   1  kCache  storage, read        array<u32>  [nKvHeads, maxCtx, kvRowWords()]  rows of kv_f16.wgsl or kv_q8_0.wgsl
//   2  vCache  storage, read        array<u32>  [nKvHeads, maxCtx, kvRowWords()]
//   3  att     storage, read_write  array<f32>  [M, nHeads * HD]
//   4  step    uniform  Step
//   5  params  uniform  Params
// Dispatch: (ceil(M / BQ), nHeads, 1) workgroups of BQ threads.
// Module = enable f16 + constants HD, NW, BQ, BK (src/kernels/attention.ts; array sizes must be
// constants) + Step + Params + attention_common.wgsl + kv_f16.wgsl or kv_q8_0.wgsl + this file.

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kCache: array<u32>;
@group(0) @binding(2) var<storage, read> vCache: array<u32>;
@group(0) @binding(3) var<storage, read_write> att: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> kt: array<u32, BK * NW>;
var<workgroup> vt: array<u32, BK * NW>;

const MW: u32 = (BK + 31u) / 32u;

// Bit jl (word jl / 32, bit jl % 32) set iff key t0 + jl is one a row of head h in query block
// ib sees, for jl in [a, b): runs of such keys (to the end of their block, or b) from
// nextSeenKey. The masks keep the division and modulo of keySeen out of the per-key loops, which
// the compilers unroll BK times.
fn rowMask(h: u32, ib: u32, t0: u32, a: u32, b: u32) -> array<u32, MW> {
  var mask: array<u32, MW>;
  var j = t0 + a;
  loop {
    j = nextSeenKey(h, ib, j);
    if (j >= t0 + b) {
      break;
    }
    var e = t0 + b;
    if (params.sparseBlock != 0u) {
      e = min(e, (j / params.sparseBlock + 1u) * params.sparseBlock);
    }
    for (var x = j - t0; x < e - t0; x++) {
      mask[x / 32u] |= 1u << (x % 32u);
    }
    j = e;
  }
  return mask;
}

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let row0 = wid.x * BQ;
  if (row0 >= step.nTokens) {
    return;
  }
  let rows = min(BQ, step.nTokens - row0);
  let pos = step.pos0 + row0 + lid;
  // This thread's row sees keys [rowLo, rowHi); threads past the step see none.
  let rowLo = windowStart(pos);
  let rowHi = select(0u, pos + 1u, lid < rows);
  // The workgroup's rows together see keys [tileLo, tileHi).
  let tileLo = windowStart(step.pos0 + row0);
  let tileHi = step.pos0 + row0 + rows;
  let RW = kvRowWords();
  let base = (h / (params.nHeads / params.nKvHeads)) * params.maxCtx * RW;

  var qh: array<vec2<f16>, NW>;
  if (lid < rows) {
    let src = ((row0 + lid) * params.nHeads + h) * HD;
    for (var w = 0u; w < NW; w++) {
      qh[w] = vec2<f16>(vec2<f32>(q[src + 2u * w], q[src + 2u * w + 1u]) * params.scale);
    }
  }

  var o: array<vec2<f32>, NW>;
  var mrow = NEG;
  var lrow = 0.0;
  // Tiles as in attention_prefill.wgsl: only those holding a key some row sees, and in them
  // only the rows of such keys loaded.
  let b0 = queryBlock(step.pos0 + row0);
  let myBlock = queryBlock(pos);
  for (var t0 = (nextSeenKey(h, b0, tileLo) / BK) * BK; t0 < tileHi; t0 = (nextSeenKey(h, b0, t0 + BK) / BK) * BK) {
    workgroupBarrier(); // the previous tile is done with kt and vt
    let tn = min(BK, tileHi - t0);
    // Tiles of f16 pairs: the cache's words (f16), or q * d rounded to f16 (q8_0: kvPairF16).
    for (var i = lid; i < tn * NW; i += BQ) {
      if (keySeen(h, b0, t0 + i / NW)) {
        let row = base + (t0 + i / NW) * RW;
        let w = i % NW;
        kt[i] = kvPairF16(kCache[row + kvPairWord(w)], kCache[row + kvScaleWord(w)], w);
        vt[i] = kvPairF16(vCache[row + kvPairWord(w)], vCache[row + kvScaleWord(w)], w);
      }
    }
    workgroupBarrier();

    // Keys of this tile visible to my row: local indices in [a, b) and, under a block-sparse
    // pattern, in blocks the row sees; as the bits of `seen`.
    let a = select(0u, rowLo - t0, rowLo > t0);
    let b = select(0u, min(rowHi - t0, BK), rowHi > t0);
    let seen = rowMask(h, myBlock, t0, a, b);
    var s: array<f32, BK>;
    var mt = NEG;
    for (var jl = 0u; jl < BK; jl++) {
      if ((seen[jl / 32u] & (1u << (jl % 32u))) != 0u) {
        var acc = 0.0;
        for (var w = 0u; w < NW; w++) {
          acc += f32(dot(qh[w], bitcast<vec2<f16>>(kt[jl * NW + w])));
        }
        s[jl] = acc;
        mt = max(mt, acc);
      }
    }
    if (a < b) {
      let mnew = max(mrow, mt);
      let alpha = exp(mrow - mnew);
      for (var w = 0u; w < NW; w++) {
        o[w] *= alpha;
      }
      lrow *= alpha;
      for (var jl = 0u; jl < BK; jl++) {
        if ((seen[jl / 32u] & (1u << (jl % 32u))) != 0u) {
          let p = exp(s[jl] - mnew);
          lrow += p;
          let ph = f16(p);
          for (var w = 0u; w < NW; w++) {
            o[w] += vec2<f32>(ph * bitcast<vec2<f16>>(vt[jl * NW + w]));
          }
        }
      }
      mrow = mnew;
    }
  }

  if (lid < rows) {
    let inv = select(0.0, 1.0 / lrow, lrow > 0.0);
    let dst = ((row0 + lid) * params.nHeads + h) * HD;
    for (var w = 0u; w < NW; w++) {
      att[dst + 2u * w] = o[w].x * inv;
      att[dst + 2u * w + 1u] = o[w].y * inv;
    }
  }
}
