import type { SampleSettings } from './sample.ts';

/**
 * CPU reference for the GPU sampler (shaders/sample_*.wgsl), plain loops. Penalty and temperature
 * round to f32 as the GPU does (so ties and orders agree); sums, exp and log are f64. Given the
 * same uniform u the GPU drew (sampleUniform), the chosen id is the GPU's wherever no decision
 * is within f32 rounding of a boundary: `margin` says how far the closest one was.
 */

const FLT_MAX = 3.4028234663852886e38;

/** PCG-RXS-M-XS hash on u32 (bit-exact with pcg_hash in sample_common.wgsl). */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The GPU's draw for (seed, step): 24 random bits as a number in [0, 1), exact in f32. */
export function sampleUniform(seed: number, step: number): number {
  return (pcgHash((pcgHash(seed) ^ step) >>> 0) >>> 8) / 16777216;
}

/**
 * z = penalty(logit) / T (T = 1 when greedy), each step rounded to f32; NaN and -inf give -inf,
 * +inf is FLT_MAX. history: ring contents, of which the first penaltyWindow count, once per id.
 */
export function sampleZ(logits: Float32Array, history: ArrayLike<number>, s: SampleSettings): Float64Array {
  const vocab = logits.length;
  const pen = Math.fround(s.repetitionPenalty);
  const t = s.temperature > 0 ? Math.fround(s.temperature) : 1;
  const hit = new Set<number>();
  if (pen !== 1) for (let j = 0; j < s.penaltyWindow; j++) if (history[j] < vocab) hit.add(history[j]);
  const z = new Float64Array(vocab);
  for (let i = 0; i < vocab; i++) {
    let l = logits[i];
    if (Number.isNaN(l) || l === -Infinity) {
      z[i] = -Infinity;
      continue;
    }
    l = Math.min(l, FLT_MAX);
    if (hit.has(i)) l = Math.fround(l > 0 ? l / pen : l * pen);
    z[i] = Math.fround(l / t);
  }
  return z;
}

export interface SampleRefResult {
  id: number;
  /** 1 greedy, vocab for the full draw, else the kept top-k / top-p prefix length. */
  nKeep: number;
  /** Top min(nTop, cap, vocab) of log softmax(z), best first. */
  top: [id: number, logprob: number][];
  /** The distribution the draw is from, [id, probability], summing to 1. */
  dist: [id: number, p: number][];
  /**
   * Smallest |cumulative mass - threshold| / normalizer over the decisions taken (top-p cut,
   * u * mass): how much f32 error the choice tolerates. Infinity when greedy.
   */
  margin: number;
}

/** The best n ids by z descending, smaller id first among equal z. */
export function rankIds(z: Float64Array, n = z.length): number[] {
  const cut = Float64Array.from(z).sort()[z.length - n]; // the n-th largest z
  const ids: number[] = [];
  for (let i = 0; i < z.length; i++) if (z[i] >= cut) ids.push(i);
  return ids.sort((a, b) => z[b] - z[a] || a - b).slice(0, n);
}

export function sampleRef(logits: Float32Array, history: ArrayLike<number>, s: SampleSettings, u: number, cap = 256): SampleRefResult {
  const vocab = logits.length;
  const z = sampleZ(logits, history, s);
  const order = rankIds(z, Math.min(cap, vocab)); // every rank used below is < cap
  const m = z[order[0]];
  const e = (i: number) => (z[i] === -Infinity ? 0 : Math.exp(z[i] - m));
  let zfull = 0;
  for (let i = 0; i < vocab; i++) zfull += e(i);
  const logZ = Math.log(zfull);
  const top = order.slice(0, Math.min(s.nTop, cap, vocab)).map((i): [number, number] => [i, z[i] - m - logZ]);

  // greedy: argmax, ties to the smallest id
  if (!(s.temperature > 0)) return { id: order[0], nKeep: 1, top, dist: [[order[0], 1]], margin: Infinity };

  const topP = Math.fround(Math.min(Math.max(s.topP, 0), 1));
  const topKOn = s.topK !== 0 && s.topK < vocab;

  // full draw: inverse CDF over the whole vocab in id order
  if (!topKOn && topP >= 1) {
    const target = u * zfull;
    let cum = 0;
    let id = -1;
    let last = 0;
    let margin = Infinity;
    const dist: [number, number][] = [];
    for (let i = 0; i < vocab; i++) {
      const ei = e(i);
      if (ei === 0) continue;
      cum += ei;
      last = i;
      margin = Math.min(margin, Math.abs(cum - target) / zfull);
      if (id < 0 && cum > target) id = i;
      dist.push([i, ei / zfull]);
    }
    return { id: id >= 0 ? id : last, nKeep: vocab, top, dist, margin };
  }

  // ranked: top-k survivors, nucleus, draw
  const kc = topKOn ? Math.min(s.topK, cap) : Math.min(cap, vocab);
  const cum: number[] = [];
  let c = 0;
  for (let r = 0; r < kc; r++) cum.push((c += e(order[r])));
  let nKeep = kc;
  let margin = Infinity;
  if (topP < 1) {
    // mass normalized over the top-k survivors, or over the full vocab when top-k is off
    const norm = topKOn ? cum[kc - 1] : zfull;
    const thr = topP * norm;
    const r = cum.findIndex((v) => v >= thr);
    nKeep = r < 0 ? kc : r + 1;
    for (const v of cum) margin = Math.min(margin, Math.abs(v - thr) / norm);
  }
  const mass = cum[nKeep - 1];
  const target = u * mass;
  for (let r = 0; r < nKeep; r++) margin = Math.min(margin, Math.abs(cum[r] - target) / mass);
  const first = cum.findIndex((v, r) => r < nKeep && v > target);
  const pick = first < 0 ? nKeep - 1 : first;
  const dist = order.slice(0, nKeep).map((i): [number, number] => [i, e(i) / mass]);
  return { id: order[pick], nKeep, top, dist, margin };
}
