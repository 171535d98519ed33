/**
 * The benchmark measurement, shared by `npm run bench` (Node, Dawn) and the in-app benchmark
 * screen (browser worker): on a loaded engine,
 *   1. prefill of the prompt ids, then `decodeTokens` greedy tokens (time to first token, tok/s);
 *   2. dispatches and weight bytes per decoded token, and the decode step's bandwidth;
 *   3. a pure streaming read of the same number of bytes on the same device (the roofline:
 *      decode bandwidth / streaming bandwidth is how close decode is to what the memory gives);
 *   4. optionally, GPU time per kernel kind over a few decode steps (timestamp-query).
 * Returns plain JSON. Load time is the caller's to measure (it depends on where weights come from).
 */
import type { Engine } from './engine.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { StreamReadKernel } from '../kernels/stream-read.ts';
import { DispatchProfiler, summarizeKinds, type KindTime } from './profile.ts';
import { GREEDY } from '../common/sampling.ts';
import { ContextFullError, InvalidRequestError } from '../common/errors.ts';

/** Real English text; repeated as needed to reach the prompt length. */
export const BENCH_TEXT =
  'The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined ' +
  'movable metal type, oil-based inks and a wooden press adapted from wine making. Within fifty years, ' +
  'presses had spread to more than two hundred cities across Europe, and the price of books fell sharply. ' +
  'Scholars could compare identical copies of a text for the first time, which changed how knowledge was shared.';

/** BOS + `text` repeated, cut to exactly n ids. */
export function benchPromptIds(tok: Tokenizer, n: number, text = BENCH_TEXT): number[] {
  if (!Number.isInteger(n) || n < 1) throw new InvalidRequestError(`bench: the prompt length must be a positive integer (got ${n})`);
  let ids = tok.encode(text, { addSpecial: true });
  while (ids.length < n) ids = ids.concat(tok.encode(text, { addSpecial: false }));
  return ids.slice(0, n);
}

export interface BenchOptions {
  promptIds: number[];
  /** Tokens to decode after the prompt (the first comes from prefill). */
  decodeTokens: number;
  /** Decode steps to profile per kernel kind (0 = skip; needs timestamp-query). */
  profileSteps?: number;
  /** Timed runs of the streaming read (median taken). */
  streamRuns?: number;
  onPhase?: (phase: string) => void;
}

export interface KernelProfile {
  steps: number;
  /** GPU time of the profiled decode steps (sum over kinds), per step. */
  gpuMsPerStep: number;
  /** Wall time of the profiled steps (one timed pass per dispatch adds overhead), per step. */
  wallMsPerStep: number;
  kinds: KindTime[];
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
  decodeGBps: number;
  streamGBps: number;
  rooflineFraction: number;
  /** Per-kind GPU times, or why there are none. */
  profile?: KernelProfile;
  profileSkipped?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Bytes of weights a decode step reads. */
export function decodeWeightBytes(engine: Engine): number {
  const { weights, cfg } = engine;
  if (cfg.tiedOutput) return weights.totalBytes; // the table is read whole as the output matrix
  return weights.totalBytes - weights.embed.fileBytes + weights.embed.fileBytes / weights.embed.rows;
}

/**
 * GB/s of a kernel that only reads `bytes` (split into buffers of at most the binding limit) and
 * sums them: the best a bandwidth-bound decode step could do on this device. A timed submit reads
 * the bytes as many times as it takes to read at least STREAM_MIN_BYTES: a small model's weights
 * stream in about a millisecond, less than the submit-and-wait round trip (which put the tiny
 * model's "bandwidth" anywhere from 0.8 to 7 GB/s between runs). Repeated reads of a small model
 * hit the CPU caches, as its decode steps do, which read the same bytes token after token.
 */
const STREAM_MIN_BYTES = 256 * 2 ** 20;

export async function streamBandwidth(device: GPUDevice, bytes: number, runs = 5): Promise<number> {
  const k = new StreamReadKernel(device);
  const part = Math.min(device.limits.maxStorageBufferBindingSize, 128 * 2 ** 20) & ~15;
  const buffers: GPUBuffer[] = [];
  const partials = k.createPartials();
  try {
    for (let left = bytes; left > 0; left -= part) {
      buffers.push(device.createBuffer({ label: 'bench.stream', size: Math.max(16, Math.min(part, Math.ceil(left / 16) * 16)), usage: GPUBufferUsage.STORAGE }));
    }
    const groups = buffers.map((b) => k.bind(b, partials));
    const total = buffers.reduce((s, b) => s + b.size, 0);
    const reps = Math.max(1, Math.ceil(STREAM_MIN_BYTES / total));
    const run = async () => {
      const enc = device.createCommandEncoder({ label: 'bench.stream' });
      const pass = enc.beginComputePass();
      for (let r = 0; r < reps; r++) for (const g of groups) k.encode(pass, g);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    await run(); // compile and first touch
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push(await run());
    return (reps * total) / (median(ms) / 1000) / 1e9;
  } finally {
    for (const b of buffers) b.destroy();
    partials.destroy();
  }
}

/**
 * GPU time per kernel kind over `steps` decode steps after `promptIds` (greedy). The engine's
 * KV cache is reset before and after.
 */
export async function profileDecode(engine: Engine, promptIds: number[], steps: number): Promise<KernelProfile> {
  const profiler = new DispatchProfiler(engine.device, (m) => m === 1);
  engine.reset();
  engine.profiler = profiler;
  try {
    const res = await engine.generate(promptIds, { maxTokens: steps + 1, sampling: GREEDY });
    const n = profiler.stepCount;
    if (n === 0) throw new Error('profileDecode: generation ended before any decode step');
    const kinds = summarizeKinds(await profiler.read(), n);
    return { steps: n, gpuMsPerStep: kinds.reduce((s, k) => s + k.msPerStep, 0), wallMsPerStep: res.decodeMs / n, kinds };
  } finally {
    engine.profiler = undefined;
    profiler.destroy();
    engine.reset();
  }
}

/** Runs the measurement on a loaded (and warmed-up) engine. */
export async function benchEngine(engine: Engine, opts: BenchOptions): Promise<BenchMeasurement> {
  const { promptIds, decodeTokens } = opts;
  if (promptIds.length === 0) throw new InvalidRequestError('bench: the prompt is empty');
  if (!Number.isInteger(decodeTokens) || decodeTokens < 2) throw new InvalidRequestError(`bench: decode at least 2 tokens (got ${decodeTokens}): decode speed needs one step after the first token`);
  if (promptIds.length + decodeTokens > engine.maxCtx) {
    throw new ContextFullError(`bench: ${promptIds.length} prompt + ${decodeTokens} decoded tokens exceed the loaded context (${engine.maxCtx}); load a longer context or ask for fewer tokens`);
  }

  // 1. Prefill + decode. Stop tokens are not passed: the count decoded is exactly decodeTokens.
  opts.onPhase?.(`prefill ${promptIds.length} tokens, decode ${decodeTokens}`);
  engine.reset();
  const res = await engine.generate(promptIds, { maxTokens: decodeTokens, sampling: GREEDY });
  engine.reset();
  const n = res.tokens.length;
  if (n < 2) throw new Error(`bench: generation ended after ${n} token(s) (${res.finishReason})`);
  const decodeTokPerS = (n - 1) / (res.decodeMs / 1000);

  // 2. Bytes and dispatches per decoded token.
  const weightBytesPerToken = decodeWeightBytes(engine);
  const decodeGBps = (weightBytesPerToken * decodeTokPerS) / 1e9;

  // 3. The roofline on the same device.
  opts.onPhase?.('streaming-read bandwidth');
  const streamGBps = await streamBandwidth(engine.device, weightBytesPerToken, opts.streamRuns);

  const out: BenchMeasurement = {
    promptTokens: promptIds.length,
    decodeTokens: n,
    ttftMs: res.prefillMs,
    prefillTokPerS: promptIds.length / (res.prefillMs / 1000),
    decodeTokPerS,
    dispatchesPerToken: engine.counters.dispatchesPerDecodeStep,
    weightBytesPerToken,
    decodeGBps,
    streamGBps,
    rooflineFraction: decodeGBps / streamGBps,
  };

  // 4. Per-kind GPU time (its own run: one pass per dispatch would slow the timed one).
  const steps = opts.profileSteps ?? 0;
  if (steps <= 0) out.profileSkipped = 'not requested';
  else if (!engine.device.features.has('timestamp-query')) out.profileSkipped = 'the device has no timestamp-query';
  else {
    opts.onPhase?.(`GPU time per kernel over ${steps} decode steps`);
    // A short prompt: only the decode steps are profiled.
    out.profile = await profileDecode(engine, promptIds.slice(0, Math.min(promptIds.length, 16)), steps);
  }
  return out;
}
