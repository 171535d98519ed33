// Shared by the two sampling passes; each module is this file + sample_partial.wgsl (pass 1)
// or + sample_final.wgsl (pass 2). Holds the parameters and the mode rules, the counter-based
// RNG, an order-preserving f32 -> u32 key, and workgroup building blocks: argmax and sum
// reductions, an online-softmax merge, a radix select of the n best (key, id) pairs, and an
// inverse-CDF walk.
//
// A pass file declares `params: Params` and the element source of select_top:
//   elem_valid(p) -> bool, elem(p) -> vec2<u32> (key, id), emit(slot, key, id)
// called by each thread only for its own positions p = lid + c * WG.
//
// Shaped for CPU drivers too (llvmpipe, SwiftShader JIT a shader at first dispatch or at
// pipeline creation): loops never index workgroup memory per thread (values a thread owns stay
// in registers; shared data is read by thread 0 or at one address by all), loop bounds are
// runtime values, and helpers are called from few places. A first version with tree and
// Hillis-Steele scans and a bitonic sort took ~28 s to JIT on llvmpipe; this takes ~2 s.

override WG: u32 = 128u;       // threads per workgroup: 64, 128 or 256
override CHUNK: u32 = 1024u;   // logits per pass-1 workgroup: a multiple of WG, <= 8 * WG (registers)
override CAP: u32 = 256u;      // candidate cap = max top-k = max nTop: a power of two, WG..8 * WG

const NO_ID: u32 = 0xffffffffu;
const KEY_NEG_INF: u32 = 0x007fffffu;   // to_key(-inf); padding uses key 0, below it
const FLT_MAX: f32 = 0x1.fffffep+127f;

struct Params {
  temperature: f32,   // 0 = greedy
  top_k: u32,         // 0 (or >= vocab) = off; clamped to CAP
  top_p: f32,         // >= 1 = off
  penalty: f32,       // repetition penalty, 1 = off
  window: u32,        // history ring length in use; 0 = no penalty, no append
  seed: u32,
  step: u32,
  vocab: u32,
  n_top: u32,         // top logprobs to report, <= CAP
}

// ---- modes (all uniform: functions of params only) ----

fn is_greedy() -> bool {
  return !(params.temperature > 0.0);
}

fn top_k_on() -> bool {
  return params.top_k != 0u && params.top_k < params.vocab;
}

// Exact inverse-CDF draw over the whole vocab: no top-k, no top-p.
fn full_draw() -> bool {
  return !is_greedy() && !top_k_on() && params.top_p >= 1.0;
}

// Ranks that survive top-k (before top-p).
fn top_k_survivors() -> u32 {
  return select(min(CAP, params.vocab), min(params.top_k, CAP), top_k_on());
}

// Candidates each pass must keep: the top-k survivors when drawing from the ranked list, and
// at least n_top for the report. 0 = none needed (greedy or full draw, no report).
fn n_cand() -> u32 {
  var k = 0u;
  if (!is_greedy() && !full_draw()) {
    k = top_k_survivors();
  }
  return min(max(k, params.n_top), min(CAP, params.vocab));
}

fn need_sumexp() -> bool {
  return !is_greedy() || params.n_top > 0u;
}

// ---- counter-based RNG: u is a pure function of (seed, step) ----

// PCG-RXS-M-XS hash (Jarzynski & Olano 2020), a bijection on u32.
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Uniform in [0, 1) with 24 random bits, exact in f32.
fn draw_u() -> f32 {
  return f32(pcg_hash(pcg_hash(params.seed) ^ params.step) >> 8u) * (1.0 / 16777216.0);
}

// ---- keys: u32 order == f32 order; NaN ranks as -inf, -0 ties with +0 ----

fn to_key(x: f32) -> u32 {
  var b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return KEY_NEG_INF;
  }
  if ((b & 0x7fffffffu) == 0u) {
    b = 0u;
  }
  if ((b & 0x80000000u) != 0u) {
    return ~b;
  }
  return b | 0x80000000u;
}

fn from_key(k: u32) -> f32 {
  if ((k & 0x80000000u) != 0u) {
    return bitcast<f32>(k & 0x7fffffffu);
  }
  return bitcast<f32>(~k);
}

// exp(z - m) for the value with key k; exactly 0 for -inf (and padding).
fn exp_rel(k: u32, m: f32) -> f32 {
  if (k <= KEY_NEG_INF) {
    return 0.0;
  }
  return exp(max(from_key(k) - m, -200.0));
}

// a ranks before b: larger value first, smaller id first among equal values.
fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

// ---- workgroup building blocks (call in uniform control flow) ----
// Loops over workgroup memory run in thread 0 and read the same address each step: CPU
// drivers compile per-thread indexing in loops into slow-to-build gathers and run redundant
// loops WG times over; on a GPU a WG-step loop in one thread is well under a microsecond.
// Loop bounds are runtime values (how many threads hold data): constant ones get unrolled.

// (best key, its id, sum of exp(z - value(key))) over some elements: an online softmax.
struct Part {
  k: u32,
  i: u32,
  s: f32,
}

fn merge(a: Part, b: Part) -> Part {
  var hi = a;
  var lo = b;
  if (better(b.k, b.i, a.k, a.i)) {
    hi = b;
    lo = a;
  }
  var s = hi.s;
  if (lo.k > KEY_NEG_INF) {
    s += lo.s * exp(max(from_key(lo.k) - from_key(hi.k), -200.0));
  }
  return Part(hi.k, hi.i, s);
}

var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red_f: array<f32, WG>;
var<workgroup> shared_u: vec2<u32>;

// The best (key, id) over the first n threads' (k, i); every thread gets it.
fn argmax_reduce(lid: u32, k: u32, i: u32, n: u32) -> vec2<u32> {
  workgroupBarrier();
  red_k[lid] = k;
  red_i[lid] = i;
  workgroupBarrier();
  if (lid == 0u) {
    var bk = 0u;
    var bi = NO_ID;
    for (var j = 0u; j < n; j++) {
      if (better(red_k[j], red_i[j], bk, bi)) {
        bk = red_k[j];
        bi = red_i[j];
      }
    }
    shared_u = vec2<u32>(bk, bi);
  }
  workgroupBarrier();
  return shared_u;
}

// The sum over the first n threads' v in thread order, in thread 0 only.
fn sum_to_first(lid: u32, v: f32, n: u32) -> f32 {
  workgroupBarrier();
  red_f[lid] = v;
  workgroupBarrier();
  var s = 0.0;
  if (lid == 0u) {
    for (var j = 0u; j < n; j++) {
      s += red_f[j];
    }
  }
  return s;
}

// ---- top n by radix select ----
// Elements are ordered by (key, tie(id)): value first, then smaller id. The pairs are
// distinct, so the n-th best is a unique threshold and exactly n elements reach it. Rounds
// of 8-bit digits, 4 of the key and as many of the id as the vocab needs (2 for 32064); in
// each, thread 0 walks the counts from the top (16 totals of 16 bins, then 16 bins). Two
// histograms alternate: round r fills H[r % 2] while H[(r + 1) % 2], walked in round r - 1,
// is cleared for round r + 1.

const RAKE: u32 = 16u;
const HIST: u32 = 272u;   // 256 bins + RAKE totals

var<workgroup> hist: array<atomic<u32>, 2 * HIST>;
var<workgroup> n_emitted: atomic<u32>;

// 8-bit digits needed for ids < vocab: 1, 2 or 3.
fn tie_rounds() -> u32 {
  return select(select(3u, 2u, params.vocab <= 0x10000u), 1u, params.vocab <= 0x100u);
}

// Larger for smaller ids, within tie_rounds() bytes.
fn tie(id: u32) -> u32 {
  return ((1u << (8u * tie_rounds())) - 1u) - id;
}

// Bit position of round r's digit in the key (r < 4) or in tie(id).
fn digit_shift(round: u32) -> u32 {
  if (round < 4u) {
    return 24u - 8u * round;
  }
  return 8u * (tie_rounds() - 1u - (round - 4u));
}

fn digit(e: vec2<u32>, round: u32) -> u32 {
  if (round < 4u) {
    return (e.x >> digit_shift(round)) & 0xffu;
  }
  return (tie(e.y) >> digit_shift(round)) & 0xffu;
}

// The (key, tie) of the n-th best valid element in positions [0, count); 1 <= n <= valid count.
fn radix_select(lid: u32, count: u32, n: u32) -> vec2<u32> {
  workgroupBarrier();
  for (var j = lid; j < 2u * HIST; j += WG) {
    atomicStore(&hist[j], 0u);
  }
  if (lid == 0u) {
    atomicStore(&n_emitted, 0u);
    shared_u = vec2<u32>(0u, n);
  }
  var prefix = vec2<u32>(0u);
  var mask = vec2<u32>(0u);
  let rounds = 4u + tie_rounds();
  for (var round = 0u; round < rounds; round++) {
    let h = (round % 2u) * HIST;
    workgroupBarrier();
    let need = shared_u.y;
    if (round > 0u) {
      // the digit thread 0 chose last round
      let b = shared_u.x;
      let shift = digit_shift(round - 1u);
      if (round <= 4u) {
        prefix.x |= b << shift;
        mask.x |= 0xffu << shift;
      } else {
        prefix.y |= b << shift;
        mask.y |= 0xffu << shift;
      }
    }
    for (var p = lid; p < count; p += WG) {
      if (elem_valid(p)) {
        let e = elem(p);
        if (all((vec2<u32>(e.x, tie(e.y)) & mask) == prefix)) {
          let d = digit(e, round);
          atomicAdd(&hist[h + d], 1u);
          atomicAdd(&hist[h + 256u + d / RAKE], 1u);
        }
      }
    }
    workgroupBarrier();
    for (var j = lid; j < HIST; j += WG) {
      atomicStore(&hist[(1u - round % 2u) * HIST + j], 0u);
    }
    if (lid == 0u) {
      var above = 0u;
      var g = RAKE - 1u;
      loop {
        let c = atomicLoad(&hist[h + 256u + g]);
        if (g == 0u || above + c >= need) {
          break;
        }
        above += c;
        g--;
      }
      var b = g * RAKE + RAKE - 1u;
      loop {
        let c = atomicLoad(&hist[h + b]);
        if (b == g * RAKE || above + c >= need) {
          break;
        }
        above += c;
        b--;
      }
      shared_u = vec2<u32>(b, need - above);
    }
  }
  workgroupBarrier();
  prefix.y |= shared_u.x;   // the last digit, at shift 0
  return prefix;
}

// Emits the n best valid elements (in no particular order) through emit(slot, key, id).
fn select_top(lid: u32, count: u32, n: u32) {
  let t = radix_select(lid, count, n);
  for (var p = lid; p < count; p += WG) {
    if (elem_valid(p)) {
      let e = elem(p);
      if (e.x > t.x || (e.x == t.x && tie(e.y) >= t.y)) {
        emit(atomicAdd(&n_emitted, 1u), e.x, e.y);
      }
    }
  }
}

// ---- inverse-CDF walk over nonnegative terms ex[0, n) ----
// Sequential (run by thread 0), no barrier inside: cumulative(r) is ex[0] + ... + ex[r]
// summed in that order, so the walk is monotone and consistent with it.

var<workgroup> ex: array<f32, CAP>;

struct Hit {
  r: u32,        // first index whose cumulative sum passes the goal, NO_ID if none
  before: f32,   // cumulative sum before r (the total when none)
}

// First r < n with cumulative(r) > goal, or >= goal when `or_equal`.
fn walk(goal: f32, n: u32, or_equal: bool) -> Hit {
  var c = 0.0;
  for (var r = 0u; r < n; r++) {
    let next = c + ex[r];
    if (next > goal || (or_equal && next >= goal)) {
      return Hit(r, c);
    }
    c = next;
  }
  return Hit(NO_ID, c);
}
