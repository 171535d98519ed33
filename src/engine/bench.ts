/**
 * The benchmark measurement, shared by `npm run bench` (Node, Dawn) and the in-app benchmark
 * screen (browser worker): on a loaded engine,
 *   1. the roofline reference: the fastest streaming read of the decode step's weight bytes over
 *      a sweep of launch configurations (src/engine/stream-sweep.ts);
 *   2. `rooflineRounds` rounds of (prefill of the prompt ids and `decodeTokens` greedy tokens,
 *      the original 64-workgroup read, the sweep's fastest few reads), medians of each: machine
 *      drift moves them alike, so it cannot move the ratios (roofline fractions); the best
 *      median is the reference;
 *   3. dispatches and weight bytes per decoded token, and the decode step's bandwidth;
 *   4. optionally, GPU time per kernel kind and per GEMV role (GB/s of each role's weights) over
 *      a few decode steps (timestamp-query), and the gap between the step's wall time and its
 *      kernels' time (dispatch bubbles);
 *   5. optionally, decode speed at longer contexts (KV bytes read per token) and prefill speed
 *      at several lengths (GFLOP/s per GEMM role where timestamp-query exists);
 *   6. the engine's pipeline compile time, when it was loaded by Engine.load.
 * Returns plain JSON. Load time is the caller's to measure (it depends on where weights come from).
 */
import type { Engine } from './engine.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';
import { DispatchProfiler, summarizeKinds, type DispatchTime, type KindTime } from './profile.ts';
import { attributeRoles, roleWeights, summarizeRoles, ROLE_NAMES, type Role, type RoleTime } from './roles.ts';
import { bestTrial, LEGACY_STREAM, StreamBench, type StreamConfig, type StreamSweep, type StreamTrial } from './stream-sweep.ts';

/** The sweep's fastest configurations timed again in the interleaved rounds. */
const STREAM_CANDIDATES = 3;
import type { KvType } from '../model/config.ts';
import { GREEDY } from '../common/sampling.ts';
import { ContextFullError, InvalidRequestError } from '../common/errors.ts';

/** Real English text; repeated as needed to reach the prompt length. */
export const BENCH_TEXT =
  'The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined ' +
  'movable metal type, oil-based inks and a wooden press adapted from wine making. Within fifty years, ' +
  'presses had spread to more than two hundred cities across Europe, and the price of books fell sharply. ' +
  'Scholars could compare identical copies of a text for the first time, which changed how knowledge was shared.';

/** BOS + `text` repeated, cut to exactly n ids. */
export function benchPromptIds(tok: TextTokenizer, n: number, text = BENCH_TEXT): number[] {
  if (!Number.isInteger(n) || n < 1) throw new InvalidRequestError(`bench: the prompt length must be a positive integer (got ${n})`);
  let ids = tok.encode(text, { addSpecial: true });
  while (ids.length < n) ids = ids.concat(tok.encode(text, { addSpecial: false }));
  return ids.slice(0, n);
}

export interface BenchOptions {
  promptIds: number[];
  /** Tokens to decode after the prompt (the first comes from prefill). */
  decodeTokens: number;
  /** Decode steps to profile per kernel kind and GEMV role (0 = skip; needs timestamp-query). */
  profileSteps?: number;
  /** Timed runs of each streaming-read configuration in the sweep (the fastest counts; default 2). */
  streamRuns?: number;
  /** Sweep launch configurations for the roofline reference (default true); false: the 64-workgroup read only. */
  streamSweep?: boolean;
  /** Most workgroups the sweep tries (default 8192; capped by the device). */
  streamMaxWorkgroups?: number;
  /** Wall time after which the sweep starts no further configuration (default 30 s). */
  streamBudgetMs?: number;
  /** Rounds of (decode run, streaming reads) whose medians are reported (default 3). */
  rooflineRounds?: number;
  /** Context positions to measure decode speed at (e.g. 128, 1024, 4096; default none). */
  contexts?: number[];
  /** Tokens decoded at each of `contexts` (default 8, at least 3: the time is the median interval after the second). */
  contextDecodeTokens?: number;
  /** Prompt lengths to measure prefill speed at (e.g. 128, 512, 2048; default none). */
  prefillLengths?: number[];
  onPhase?: (phase: string) => void;
}

/** Decode steps' wall time against the sum of their kernels' GPU time. */
export interface DispatchBubbles {
  /** Wall milliseconds per decoded token of the timed (unprofiled) runs. */
  wallMsPerToken: number;
  /**
   * GPU milliseconds per step, summed over the profiled dispatches (at the same prompt length;
   * median over the profiled steps). Each dispatch is timed in a pass of its own, which on some
   * drivers costs more than in the timed run: a negative bubble says so.
   */
  gpuMsPerToken: number;
  /** wall - GPU: time the GPU spends between kernels or waiting for the CPU, per token. */
  bubbleMsPerToken: number;
  /** bubble / wall. */
  bubbleFraction: number;
}

export interface KernelProfile {
  steps: number;
  /** GPU time of the profiled decode steps (sum over kinds), per step. */
  gpuMsPerStep: number;
  /** The median over the profiled steps of a step's GPU time. */
  medianGpuMsPerStep: number;
  /** Wall time of the profiled steps (one timed pass per dispatch adds overhead), per step. */
  wallMsPerStep: number;
  kinds: KindTime[];
  /** GPU time and GB/s per GEMV role (QKV, Wo, gate/up, down, lm_head), or why there are none. */
  roles?: RoleTime[];
  rolesSkipped?: string;
}

/** Decode speed after a prefill to `context` positions. */
export interface ContextDecode {
  /** Position of the first decoded token (the prompt's length). */
  context: number;
  /** The position asked for, when the loaded context moved it back so the decoded tokens fit. */
  requested?: number;
  /** Tokens decoded (the first comes from prefill). */
  decodeTokens: number;
  /** 1000 / msPerToken. */
  decodeTokPerS?: number;
  /** Median interval between tokens after the second. */
  msPerToken?: number;
  /**
   * KV cache bytes one token reads there (K and V of every layer in the cache's type and GPU
   * layout, the rows its layers see: up to the window, and only the visible blocks on block-sparse
   * layers; a row several query heads read counted once), averaged over the decoded positions.
   */
  kvBytesPerToken?: number;
  /** The same for causal attention on every layer (equal to kvBytesPerToken unless some layers are block-sparse). */
  denseKvBytesPerToken?: number;
  /** (weights + KV) bytes per token x tokens/s. */
  GBps?: number;
  skipped?: string;
}

/** GPU time and GFLOP/s of one GEMM role over a whole prefill. */
export interface GemmTime {
  role: Role;
  name: string;
  /** Tokens (m), output rows and input features of one layer's matrix; layers. */
  m: number;
  rows: number;
  k: number;
  count: number;
  /** GPU milliseconds over all chunks and layers. */
  ms: number;
  /** 2 m k rows x layers / time. */
  GFLOPs: number;
}

/** Prefill of `tokens` prompt tokens (steps of the engine's chunk), then the first token sampled. */
export interface PrefillRun {
  tokens: number;
  ms?: number;
  tokPerS?: number;
  /** Tokens per prefill step. */
  chunk?: number;
  gemms?: GemmTime[];
  gemmsSkipped?: string;
  skipped?: string;
}

export interface BenchMeasurement {
  promptTokens: number;
  decodeTokens: number;
  ttftMs: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  dispatchesPerToken: number;
  /** Weight bytes one decode step reads: every tensor once, but one row of the embedding table. */
  weightBytesPerToken: number;
  /** How the KV cache stores K and V. */
  kvType: KvType;
  /** Bytes of the KV cache's GPU buffers at the loaded context. */
  kvBytes: number;
  /** Bytes of every GPU buffer the engine holds (weights, state with the cache, scratch, uniforms). */
  gpuBytes: number;
  decodeGBps: number;
  /** The roofline reference: the best median over the interleaved runs of the candidates (streamCandidates). */
  streamGBps: number;
  /** The original reference (64 workgroups of 256 threads), median of the same rounds. */
  streamGBpsLegacy64: number;
  /** decodeGBps / streamGBps. */
  rooflineFraction: number;
  /** decodeGBps / streamGBpsLegacy64 (what older reports called the roofline fraction). */
  rooflineFractionLegacy64: number;
  /** The configuration the reference uses, with its median over the interleaved runs. */
  streamBest: StreamTrial;
  /**
   * The configurations timed in the interleaved rounds, with their medians: the original one
   * (first) and the sweep's fastest few. The best of them is the reference, so the reference is
   * never slower than the original configuration.
   */
  streamCandidates: StreamTrial[];
  /** Every configuration tried. */
  streamSweep: StreamSweep;
  /** Rounds of (decode, streaming reads) the medians are over. */
  rooflineRounds: number;
  /** Per-kind GPU times, or why there are none. */
  profile?: KernelProfile;
  profileSkipped?: string;
  /** Wall time against kernel time per decoded token (needs the profile). */
  bubbles?: DispatchBubbles;
  contextDecode?: ContextDecode[];
  prefillRuns?: PrefillRun[];
  /** Pipeline compile time at load (background compiles, overlapping the upload). */
  compileMs?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Bytes of weights a decode step reads. */
export function decodeWeightBytes(engine: Engine): number {
  const { weights, cfg } = engine;
  if (cfg.tiedOutput) return weights.totalBytes; // the table is read whole as the output matrix
  return weights.totalBytes - weights.embed.fileBytes + weights.embed.fileBytes / weights.embed.rows;
}

/** GB/s of the original reference read (64 workgroups of 256 threads) of `bytes`: median of `runs`. */
export async function streamBandwidth(device: GPUDevice, bytes: number, runs = 5): Promise<number> {
  const sb = new StreamBench(device, bytes);
  try {
    await sb.warm(LEGACY_STREAM);
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push(await sb.time(LEGACY_STREAM));
    return sb.gbps(median(ms));
  } finally {
    sb.destroy();
  }
}

/** `ids` repeated (without its first id, the BOS, after the first copy) to exactly n ids. */
export function idsOfLength(ids: readonly number[], n: number): number[] {
  if (ids.length === 0) throw new InvalidRequestError('bench: no ids to repeat');
  const out = ids.slice(0, n);
  const rest = ids.length > 1 ? ids.slice(1) : ids;
  while (out.length < n) out.push(...rest.slice(0, n - out.length));
  return out;
}

async function profiled<T>(engine: Engine, want: (m: number) => boolean, run: () => Promise<T>): Promise<{ result: T; times: DispatchTime[]; steps: number }> {
  const profiler = new DispatchProfiler(engine.device, want);
  engine.reset();
  engine.profiler = profiler;
  try {
    const result = await run();
    return { result, times: await profiler.read(), steps: profiler.stepCount };
  } finally {
    engine.profiler = undefined;
    profiler.destroy();
    engine.reset();
  }
}

/**
 * GPU time per kernel kind and per GEMV role over `steps` decode steps after `promptIds`
 * (greedy). The engine's KV cache is reset before and after.
 */
export async function profileDecode(engine: Engine, promptIds: number[], steps: number): Promise<KernelProfile> {
  const { result: res, times, steps: n } = await profiled(engine, (m) => m === 1, () => engine.generate(promptIds, { maxTokens: steps + 1, sampling: GREEDY }));
  if (n === 0) throw new Error('profileDecode: generation ended before any decode step');
  const kinds = summarizeKinds(times, n);
  const perStep = new Array<number>(n).fill(0);
  for (const t of times) perStep[t.step] += t.ns / 1e6;
  const out: KernelProfile = { steps: n, gpuMsPerStep: kinds.reduce((s, k) => s + k.msPerStep, 0), medianGpuMsPerStep: median(perStep), wallMsPerStep: res.decodeMs / n, kinds };
  const a = attributeRoles(times, engine.cfg.nLayers);
  if ('roles' in a) out.roles = summarizeRoles(times, a.roles, roleWeights(engine.weights), n);
  else out.rolesSkipped = a.skipped;
  return out;
}

/**
 * Decode speed after prefilling `context` positions: `tokens` tokens; the time per token is the
 * median interval between tokens after the second (a few tokens on a shared machine: one slow
 * step must not set the result, and the first interval still holds the switch from prefill).
 */
export async function decodeAtContext(engine: Engine, ids: readonly number[], context: number, tokens: number): Promise<ContextDecode> {
  if (context > engine.maxCtx || engine.maxCtx - tokens < 1) {
    return { context, decodeTokens: 0, skipped: `position ${context} and ${tokens} decoded tokens exceed the loaded context (${engine.maxCtx})` };
  }
  // A context that fills the cache (4096 in a 4096-token context) is measured as far along as its tokens fit.
  const requested = context;
  context = Math.min(context, engine.maxCtx - tokens);
  const at: number[] = [];
  engine.reset();
  const res = await engine.generate(idsOfLength(ids, context), { maxTokens: tokens, sampling: GREEDY, onToken: () => at.push(performance.now()) });
  engine.reset();
  const n = res.tokens.length;
  if (n < 3) return { context, decodeTokens: n, skipped: `generation ended after ${n} token(s) (${res.finishReason}); 3 are needed for an interval after the second` };
  const msPerToken = median(at.slice(2).map((t, i) => t - at[i + 1]));
  // decode steps write positions context .. context + n - 2 and read the rows they see
  let rows = 0;
  let denseRows = 0;
  for (let p = context; p <= context + n - 2; p++) {
    const r = engine.kvRowsRead(p);
    rows += r.rows;
    denseRows += r.denseRows;
  }
  // the GPU layout's bytes per row (src/engine/state.ts): one KV head's K and V at one position of one layer
  const rowBytes = engine.kvBytes / (engine.maxCtx * engine.cfg.nLayers * engine.cfg.nKvHeads);
  const kv = (rowBytes * rows) / (n - 1);
  const decodeTokPerS = 1000 / msPerToken;
  return {
    context,
    ...(requested !== context ? { requested } : {}),
    decodeTokens: n,
    decodeTokPerS,
    msPerToken,
    kvBytesPerToken: kv,
    denseKvBytesPerToken: (rowBytes * denseRows) / (n - 1),
    GBps: ((decodeWeightBytes(engine) + kv) * decodeTokPerS) / 1e9,
  };
}

/** Prefill speed of `tokens` prompt tokens, and GFLOP/s per GEMM role when `profile` (timestamp-query). */
export async function prefillAt(engine: Engine, ids: readonly number[], tokens: number, profile: boolean): Promise<PrefillRun> {
  if (tokens + 1 > engine.maxCtx) return { tokens, skipped: `${tokens} tokens and the sampled one exceed the loaded context (${engine.maxCtx})` };
  const prompt = idsOfLength(ids, tokens);
  engine.reset();
  const res = await engine.generate(prompt, { maxTokens: 1, sampling: GREEDY });
  engine.reset();
  const out: PrefillRun = { tokens, ms: res.prefillMs, tokPerS: tokens / (res.prefillMs / 1000), chunk: engine.chunk };
  if (!profile) return out;
  const { times, steps } = await profiled(engine, () => true, () => engine.generate(prompt, { maxTokens: 1, sampling: GREEDY }));
  const a = attributeRoles(times, engine.cfg.nLayers);
  if (steps === 0) out.gemmsSkipped = 'no prefill step was profiled';
  else if (!('roles' in a)) out.gemmsSkipped = a.skipped;
  else {
    out.gemms = roleWeights(engine.weights)
      .filter((w) => w.role !== 'lm_head') // the head reads only the last token: a GEMV
      .map((w) => {
        let ns = 0;
        times.forEach((t, i) => {
          if (a.roles[i] === w.role) ns += t.ns;
        });
        const ms = ns / 1e6;
        return { role: w.role, name: ROLE_NAMES[w.role], m: tokens, rows: w.rows, k: w.k, count: w.count, ms, GFLOPs: ms > 0 ? (2 * tokens * w.k * w.rows * w.count) / (ms / 1000) / 1e9 : 0 };
      });
  }
  return out;
}

/** Runs the measurement on a loaded (and warmed-up) engine. */
export async function benchEngine(engine: Engine, opts: BenchOptions): Promise<BenchMeasurement> {
  const { promptIds, decodeTokens } = opts;
  if (promptIds.length === 0) throw new InvalidRequestError('bench: the prompt is empty');
  if (!Number.isInteger(decodeTokens) || decodeTokens < 2) throw new InvalidRequestError(`bench: decode at least 2 tokens (got ${decodeTokens}): decode speed needs one step after the first token`);
  if (promptIds.length + decodeTokens > engine.maxCtx) {
    throw new ContextFullError(`bench: ${promptIds.length} prompt + ${decodeTokens} decoded tokens exceed the loaded context (${engine.maxCtx}); load a longer context or ask for fewer tokens`);
  }
  for (const [what, xs] of [['contexts', opts.contexts], ['prefill lengths', opts.prefillLengths]] as const) {
    for (const x of xs ?? []) if (!Number.isInteger(x) || x < 1) throw new InvalidRequestError(`bench: ${what} must be positive whole numbers (got ${x})`);
  }
  const rounds = Math.max(1, Math.floor(opts.rooflineRounds ?? 3));
  const weightBytesPerToken = decodeWeightBytes(engine);

  const stream = new StreamBench(engine.device, weightBytesPerToken);
  let sweep: StreamSweep;
  const candidates: StreamConfig[] = [];
  const decodeRuns: { ttftMs: number; decodeTokPerS: number; n: number }[] = [];
  const readMs: number[][] = [];
  try {
    // 1. The reference's candidates: the sweep's fastest few (one run each can be lucky on a
    // shared machine) and the original configuration.
    if (opts.streamSweep === false) {
      opts.onPhase?.('streaming read (64 workgroups)');
      sweep = await stream.sweep({ shapes: [LEGACY_STREAM], maxWorkgroups: LEGACY_STREAM.workgroups, runs: opts.streamRuns });
    } else {
      opts.onPhase?.('streaming-read sweep (workgroup counts and shapes)');
      sweep = await stream.sweep({ runs: opts.streamRuns, maxWorkgroups: opts.streamMaxWorkgroups, budgetMs: opts.streamBudgetMs });
    }
    const same = (a: StreamConfig, b: StreamConfig) => a.workgroups === b.workgroups && a.workgroupSize === b.workgroupSize && a.vec4PerIteration === b.vec4PerIteration && a.blocked === b.blocked;
    for (const t of [LEGACY_STREAM, ...[...sweep.trials].sort((a, b) => b.GBps - a.GBps).slice(0, STREAM_CANDIDATES)]) {
      const c = { workgroups: t.workgroups, workgroupSize: t.workgroupSize, vec4PerIteration: t.vec4PerIteration, blocked: t.blocked };
      if (!candidates.some((x) => same(x, c))) candidates.push(c);
    }
    readMs.push(...candidates.map(() => []));
    await stream.warm(LEGACY_STREAM);

    // 2. Rounds of decode and the candidates' reads. Stop tokens are not passed: the count decoded is exactly decodeTokens.
    for (let r = 0; r < rounds; r++) {
      opts.onPhase?.(`round ${r + 1}/${rounds}: prefill ${promptIds.length} tokens, decode ${decodeTokens}, streaming reads`);
      engine.reset();
      const res = await engine.generate(promptIds, { maxTokens: decodeTokens, sampling: GREEDY });
      engine.reset();
      const n = res.tokens.length;
      if (n < 2) throw new Error(`bench: generation ended after ${n} token(s) (${res.finishReason})`);
      decodeRuns.push({ ttftMs: res.prefillMs, decodeTokPerS: (n - 1) / (res.decodeMs / 1000), n });
      for (const [i, c] of candidates.entries()) readMs[i].push(await stream.time(c));
    }
  } finally {
    stream.destroy();
  }

  // 3. Bytes and dispatches per decoded token; the reference is the candidate with the best median.
  const decodeTokPerS = median(decodeRuns.map((d) => d.decodeTokPerS));
  const ttftMs = median(decodeRuns.map((d) => d.ttftMs));
  const decodeGBps = (weightBytesPerToken * decodeTokPerS) / 1e9;
  const streamCandidates: StreamTrial[] = candidates.map((c, i) => ({ ...c, GBps: stream.gbps(median(readMs[i])) }));
  const streamBest = bestTrial(streamCandidates);
  const streamGBps = streamBest.GBps;
  const streamGBpsLegacy64 = streamCandidates[0].GBps;

  const out: BenchMeasurement = {
    promptTokens: promptIds.length,
    decodeTokens: decodeRuns[0].n,
    ttftMs,
    prefillTokPerS: promptIds.length / (ttftMs / 1000),
    decodeTokPerS,
    dispatchesPerToken: engine.counters.dispatchesPerDecodeStep,
    weightBytesPerToken,
    kvType: engine.kvType,
    kvBytes: engine.kvBytes,
    gpuBytes: engine.gpuBytes,
    decodeGBps,
    streamGBps,
    streamGBpsLegacy64,
    rooflineFraction: decodeGBps / streamGBps,
    rooflineFractionLegacy64: decodeGBps / streamGBpsLegacy64,
    streamBest,
    streamCandidates,
    streamSweep: sweep,
    rooflineRounds: rounds,
  };
  if (engine.compileMs !== undefined) out.compileMs = engine.compileMs;

  // 4. Per-kind and per-role GPU time (its own run: one pass per dispatch would slow the timed
  // one), at the timed run's prompt length so that its attention reads as many keys.
  const steps = opts.profileSteps ?? 0;
  const timestamps = engine.device.features.has('timestamp-query');
  if (steps <= 0) out.profileSkipped = 'not requested';
  else if (!timestamps) out.profileSkipped = 'the device has no timestamp-query';
  else {
    opts.onPhase?.(`GPU time per kernel over ${steps} decode steps`);
    const p = (out.profile = await profileDecode(engine, promptIds, steps));
    const wall = 1000 / decodeTokPerS;
    const gpu = p.medianGpuMsPerStep;
    out.bubbles = { wallMsPerToken: wall, gpuMsPerToken: gpu, bubbleMsPerToken: wall - gpu, bubbleFraction: (wall - gpu) / wall };
  }

  // 5. Longer contexts and prefill lengths.
  if (opts.contexts?.length) {
    out.contextDecode = [];
    const tokens = Math.max(3, Math.floor(opts.contextDecodeTokens ?? 8));
    for (const c of opts.contexts) {
      opts.onPhase?.(`decode ${tokens} tokens at context ${c}`);
      out.contextDecode.push(await decodeAtContext(engine, promptIds, c, tokens));
    }
  }
  if (opts.prefillLengths?.length) {
    out.prefillRuns = [];
    for (const n of opts.prefillLengths) {
      opts.onPhase?.(`prefill ${n} tokens`);
      const run = await prefillAt(engine, promptIds, n, steps > 0 && timestamps);
      if (!run.skipped && !run.gemms && !run.gemmsSkipped) run.gemmsSkipped = steps <= 0 ? 'profiling not requested' : 'the device has no timestamp-query';
      out.prefillRuns.push(run);
    }
  }
  return out;
}
