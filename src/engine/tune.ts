/**
 * The autotuner: on the user's own adapter, at the loaded model's shapes, time each role's
 * candidate kernels (src/engine/plan.ts roles; candidates from src/engine/candidates.ts) and keep
 * the fastest one that agrees with the reference. It runs once per adapter, model shape and
 * kernels version; the worker stores the plan it returns (src/store/tuning-store.ts).
 *
 *   per role:  build every candidate (pipelines compile in parallel; one that does not build or
 *              compile is dropped and named), bind it in every layer to the real weights (and to a
 *              few layers of scratch KV cache: StepState), run it once on seeded inputs and
 *              compare its output with the reference's (the plan it starts from: the hand-tuned
 *              table), then time the ones that agree, round-robin so drift hits all alike:
 *              GPU time from timestamp queries where the device has them, else wall time over
 *              one submit of many repetitions. The median decides.
 *
 * What is compared is each kernel's own output; the per-kernel tests check every variant against
 * the CPU reference, and this check only guards against a variant this adapter miscompiles.
 */
import type { KvType, ModelConfig } from '../model/config.ts';
import { packStep, stepUniforms } from '../kernels/step.ts';
import { compileInBackground } from '../gpu/pipelines.ts';
import { createStorage, readBuffer } from '../gpu/buffers.ts';
import { Rng } from '../util/rng.ts';
import type { AttentionShared } from '../kernels/attention.ts';
import { Kernels } from './kernels.ts';
import { cpuDriver, deviceAdapterText } from '../kernels/tuning.ts';
import { StepState } from './state.ts';
import type { ModelWeights } from './weights.ts';
import { BoundMatmul, BoundMatvec, BoundNormMatvec, BoundSwiglu } from './bound.ts';
import { KERNEL_ROLES, choiceOf, describeChoice, withChoice, type KernelPlan, type KernelRole } from './plan.ts';
import { candidatesFor, type CandidateContext } from './candidates.ts';

export interface TuneOptions {
  /** The plan to start from; its choices are the references (default: the adapter's table plan). */
  base?: KernelPlan;
  /** Tokens of a prefill step (the engine's chunk): the prefill roles' m. */
  chunk: number;
  /** The loaded context; decode attention is timed at min(contextLength, 2048) - 1 keys. */
  contextLength: number;
  /** The load's KV cache type (default 'f16'): every trial's attention and cache use it. */
  kvType?: KvType;
  /** Roles to tune (default: all, in KERNEL_ROLES order). */
  roles?: readonly KernelRole[];
  /** Candidates per role (default: candidates.ts). The base plan's choice is always tried first. */
  candidates?: (role: KernelRole, ctx: CandidateContext) => object[];
  /** candidates.ts's search (default: 'seeded' on a CPU emulator, 'full' elsewhere). */
  search?: CandidateContext['search'];
  /** Timed samples per candidate (median taken); default 5. */
  samples?: number;
  /** Milliseconds one sample should last at least (repetitions are sized to it); default 4. */
  sampleMs?: number;
  /**
   * Milliseconds the whole tuning may take: once spent, the roles not yet visited keep the base
   * plan's choice (reported as skipped). Default: no limit.
   */
  budgetMs?: number;
  onProgress?: (done: number, total: number, role: KernelRole) => void;
}

export interface TriedCandidate {
  label: string;
  choice: object;
  /** Median time of one run (all of the role's dispatches), ms. */
  ms?: number;
  /** Why it was dropped. */
  error?: string;
}

export interface RoleTuning {
  role: KernelRole;
  /** The chosen candidate, its time, and the reference's (absent when skipped). */
  chosen: string;
  choice: object;
  ms?: number;
  referenceMs?: number;
  tried: TriedCandidate[];
  /** Why the role kept the base plan's choice untimed (the budget ran out). */
  skipped?: string;
  /** Wall time spent on this role (builds, compiles, checks and timing). */
  wallMs: number;
}

export interface TuneResult {
  plan: KernelPlan;
  search: CandidateContext['search'];
  tuneMs: number;
  timer: 'timestamp' | 'wall';
  roles: RoleTuning[];
  /** Candidates that failed to build or compile, or disagreed with the reference. */
  dropped: { role: KernelRole; label: string; reason: string }[];
}

/**
 * A candidate replaces the reference only when faster by more than this fraction: medians of a
 * few samples on a busy machine move by a few percent, and a switch on noise gains nothing.
 */
export const MIN_GAIN = 0.03;

/** Largest relative RMS difference from the reference output a candidate may show (see agreement). */
export const AGREEMENT_RMS = 2 ** -6;

/**
 * How far `out` is from `ref`: RMS of the difference over RMS of the reference (Infinity if any
 * value is not finite). A kernel that reads the wrong block, row or key is off by the order of the
 * output itself (1); reordered f32 sums differ by ~1e-6 and f16 products by ~2^-11 per term,
 * which stays near 2^-11 relative over a dot product of independent terms. AGREEMENT_RMS sits
 * between the two with a margin of 32 either side.
 */
export function agreement(out: Float32Array, ref: Float32Array): number {
  let d2 = 0;
  let r2 = 0;
  for (let i = 0; i < ref.length; i++) {
    const a = out[i];
    const b = ref[i];
    if (!Number.isFinite(a)) return Infinity;
    d2 += (a - b) * (a - b);
    r2 += b * b;
  }
  return r2 === 0 ? (d2 === 0 ? 0 : Infinity) : Math.sqrt(d2 / r2);
}

/** Layers of KV cache the attention roles read in one run (each min(context, 2048) positions). */
const KV_LAYERS = 4;

/** One role bound to the scratch state: what a run encodes, and the output it is judged by. */
interface Trial {
  /** The Step uniform its dispatches read. */
  step: { pos0: number; nTokens: number };
  encode(pass: GPUComputePassEncoder): void;
  output: GPUBuffer;
  outputBytes: number;
  destroy(): void;
}

/** The scratch a trial runs in: activations, a few layers of KV cache, and the model's real weights. */
class TuneBench {
  readonly s: StepState;
  readonly m: number;
  /** Decode attention's position (keys 0..pos). */
  readonly pos: number;
  /** Prefill attention's first position. */
  readonly pos0: number;
  readonly xg: GPUBuffer;
  readonly partials: GPUBuffer;
  private readonly owned: GPUBuffer[] = [];
  /** The merge pass of the reference's attention over s.attention's partials into s.att (the wo role's). */
  private mergeGroup?: { shape: AttentionShared['shape']; merge: GPUBindGroup };

  constructor(
    readonly device: GPUDevice,
    readonly cfg: ModelConfig,
    readonly weights: ModelWeights,
    readonly reference: Kernels,
    opts: { chunk: number; contextLength: number },
  ) {
    const ctx = Math.max(2, Math.min(opts.contextLength, 2048));
    this.m = Math.max(2, Math.min(opts.chunk, ctx));
    this.pos = ctx - 1;
    this.pos0 = ctx - this.m;
    // the attention roles cycle over a few layers' caches (KV_LAYERS), for the reason the weight roles visit every layer
    this.s = new StepState(device, reference, { ...cfg, nLayers: Math.min(cfg.nLayers, KV_LAYERS) }, weights, { maxCtx: ctx, chunk: this.m, slidingWindow: false, kvType: reference.kvType });
    this.xg = this.own(createStorage(device, cfg.dim * 4, 'tune.xg'));
    // the most partial sums a hand-off writes: one per workgroup of at least one row
    this.partials = this.own(createStorage(device, 16 * Math.ceil(Math.max(cfg.dim, cfg.ffnDim) / 4), 'tune.partials'));
  }

  private own(b: GPUBuffer): GPUBuffer {
    this.owned.push(b);
    return b;
  }

  /** Writes seeded inputs into every buffer a trial reads (and those it adds to). */
  resetInputs(): void {
    const { s, device } = this;
    const rng = new Rng(0x7ee1);
    const fill = (b: GPUBuffer, scale = 1) => {
      const v = new Float32Array(b.size / 4);
      for (let i = 0; i < v.length; i++) v[i] = rng.uniform(-scale, scale);
      device.queue.writeBuffer(b, 0, v);
    };
    for (const b of [s.x, s.xb, s.qkv, s.q, s.att, s.h, s.xLast]) fill(b);
    // split-K partials for the wo role: outputs in [-1, 1), (max, sum) pairs with sums > 0
    fill(s.attention.scratch.partO);
    const ml = new Float32Array(s.attention.scratch.partML.size / 4);
    for (let i = 0; i < ml.length; i += 2) ml.set([rng.uniform(-4, 4), rng.uniform(0.5, 2)], i);
    device.queue.writeBuffer(s.attention.scratch.partML, 0, ml);
    // f16 keys and values in [-1, 1): halves of 0x3c00 (1.0) and below, random sign
    for (const b of s.kv.flatMap((kv) => [kv.k, kv.v])) {
      const h = new Uint16Array(b.size / 2);
      for (let i = 0; i < h.length; i++) h[i] = (rng.int(0, 0x3bff) | (rng.next() < 0.5 ? 0x8000 : 0)) & 0xffff;
      device.queue.writeBuffer(b, 0, h);
    }
  }

  /** The role bound with `k`'s choice for it in every layer (the lm head's weight for lmHead). */
  trial(role: KernelRole, k: Kernels): Trial {
    const { s, cfg, m } = this;
    const layers = this.weights.layers;
    const eps = cfg.normEps;
    type Bound = { encode(p: GPUComputePassEncoder): void; destroy(): void };
    // one run = the role in every layer, each reading its own weights, as a step does: a single
    // layer's weights may fit a GPU's L2 and time as if they were cached
    const gemv = (bound: Bound[], output: GPUBuffer, floats: number): Trial => ({
      step: { pos0: this.pos, nTokens: 1 },
      encode: (p) => bound.forEach((b) => b.encode(p)),
      output,
      outputBytes: floats * 4,
      destroy: () => bound.forEach((b) => b.destroy()),
    });
    const gemm = (bound: BoundMatmul[], output: GPUBuffer, floats: number): Trial => {
      for (const b of bound) b.setTokens(m);
      return {
        step: { pos0: this.pos0, nTokens: m },
        encode: (p) => bound.forEach((b) => b.encode(p, m)),
        output,
        outputBytes: floats * 4,
        destroy: () => bound.forEach((b) => b.destroy()),
      };
    };
    // phi3small's graphs (decode-layernorm.ts) run plain GEMVs where phi3's fuse the norm or
    // SwiGLU, and hand nothing off to the next norm (a LayerNorm reads x itself): time those.
    const plain = cfg.arch === 'phi3small';
    const handoff = (g: GPUBuffer) => (plain ? undefined : { g, xg: this.xg, partials: this.partials });
    const qkvFloats = cfg.dim + 2 * cfg.kvDim;
    switch (role) {
      case 'qkv':
        return plain
          ? gemv(layers.map((w) => new BoundMatvec(k, 'qkv', w.qkv, s.xb, s.qkv, false)), s.qkv, qkvFloats)
          : gemv(layers.map((w) => new BoundNormMatvec(k, 'qkv', w.qkv, s.x, w.attnNorm, s.qkv, eps)), s.qkv, qkvFloats);
      case 'wo': {
        // Every candidate starts from the same split-K partials (s.attention's, seeded by
        // resetInputs): one that merges them itself against the merge pass plus the GEMV, so the
        // dispatch it saves and the merging it repeats in every workgroup are both timed.
        const bound = layers.map((w) => new BoundMatvec(k, 'wo', w.wo, s.att, s.x, true, handoff(w.ffnNorm), s.attention));
        const att = this.reference.attention;
        const merge = k.mergesAttention ? undefined : (this.mergeGroup ??= att.bindMerge(s.attention, s.att));
        const trial = gemv(bound, s.x, cfg.dim);
        const encode = (p: GPUComputePassEncoder) => {
          for (const b of bound) {
            if (merge) att.encodeMerge(p, merge, 1);
            b.encode(p);
          }
        };
        return { ...trial, encode };
      }
      case 'gateUp':
        return !plain && BoundSwiglu.fits(layers[0].up, cfg.ffnDim)
          ? gemv(layers.map((w) => new BoundSwiglu(k, w.up, s.x, w.ffnNorm, s.h, cfg.ffnDim, eps)), s.h, cfg.ffnDim)
          : gemv(layers.map((w) => new BoundMatvec(k, 'gateUp', w.up, s.xb, s.gu, false)), s.gu, 2 * cfg.ffnDim);
      case 'down':
        return gemv(layers.map((w) => new BoundMatvec(k, 'down', w.down, s.h, s.x, true, handoff(this.weights.outputNorm))), s.x, cfg.dim);
      case 'lmHead':
        return plain
          ? gemv([new BoundMatvec(k, 'lmHead', this.weights.output, s.xb, s.logits, false)], s.logits, cfg.vocabSize)
          : gemv([new BoundNormMatvec(k, 'lmHead', this.weights.output, s.xLast, this.weights.outputNorm, s.logits, eps)], s.logits, cfg.vocabSize);
      case 'gemmQkv':
        return gemm(layers.map((w) => new BoundMatmul(k, role, w.qkv, s.xb, s.qkv, qkvFloats, false)), s.qkv, m * qkvFloats);
      case 'gemmWo':
        return gemm(layers.map((w) => new BoundMatmul(k, role, w.wo, s.att, s.x, cfg.dim, true)), s.x, m * cfg.dim);
      case 'gemmUp':
        return gemm(layers.map((w) => new BoundMatmul(k, role, w.up, s.xb, s.gu, 2 * cfg.ffnDim, false)), s.gu, m * 2 * cfg.ffnDim);
      case 'gemmDown':
        return gemm(layers.map((w) => new BoundMatmul(k, role, w.down, s.h, s.x, cfg.dim, true)), s.x, m * cfg.dim);
      case 'attnDecode':
      case 'attnPrefill': {
        const a = k.attention;
        const shape = s.attention.shape;
        const scratch = a.createScratch(shape);
        const shared: AttentionShared = { shape, params: a.createParams(shape), step: s.step, scratch };
        const destroy = () => [shared.params, scratch.partO, scratch.partML].forEach((b) => b.destroy());
        if (role === 'attnDecode') {
          const rope = { qkv: s.qkv, factors: s.rope.factors, ropeParams: s.rope.params };
          const bound = s.kv.map((kv) => a.bindDecode(shared, kv, rope, s.att));
          return { step: { pos0: this.pos, nTokens: 1 }, encode: (p) => bound.forEach((b) => a.encodeDecodeRope(p, b, this.pos)), output: s.att, outputBytes: cfg.dim * 4, destroy };
        }
        const bound = s.kv.map((kv) => a.bind(shared, kv, s.q, s.att));
        const step = { pos0: this.pos0, nTokens: m };
        return { step, encode: (p) => bound.forEach((b) => a.encodePrefill(p, b, step)), output: s.att, outputBytes: m * cfg.dim * 4, destroy };
      }
    }
  }

  destroy(): void {
    this.s.destroy();
    for (const b of this.owned) b.destroy();
  }
}

/** Times runs of a trial: GPU time from a pass's timestamps where the device has them, else wall time. */
class Timer {
  readonly kind: 'timestamp' | 'wall';
  private readonly querySet?: GPUQuerySet;
  private readonly resolve?: GPUBuffer;
  private readonly staging?: GPUBuffer;
  private readonly stepBytes = new ArrayBuffer(stepUniforms.byteSize);

  constructor(
    private readonly device: GPUDevice,
    private readonly stepBuffer: GPUBuffer,
  ) {
    this.kind = device.features.has('timestamp-query') ? 'timestamp' : 'wall';
    if (this.kind === 'timestamp') {
      this.querySet = device.createQuerySet({ label: 'tune.timestamps', type: 'timestamp', count: 2 });
      this.resolve = device.createBuffer({ label: 'tune.resolve', size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      this.staging = device.createBuffer({ label: 'tune.staging', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    }
  }

  /** Milliseconds of `reps` runs of the trial in one pass, one submit. */
  async run(trial: Trial, reps: number): Promise<number> {
    const { device } = this;
    device.queue.writeBuffer(this.stepBuffer, 0, packStep(trial.step, this.stepBytes));
    const enc = device.createCommandEncoder({ label: 'tune' });
    const timestampWrites = this.querySet ? { querySet: this.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined;
    const pass = enc.beginComputePass({ label: 'tune', timestampWrites });
    for (let r = 0; r < reps; r++) trial.encode(pass);
    pass.end();
    if (this.querySet) {
      enc.resolveQuerySet(this.querySet, 0, 2, this.resolve!, 0);
      enc.copyBufferToBuffer(this.resolve!, 0, this.staging!, 0, 16);
    }
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    if (!this.staging) return wall;
    await this.staging.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(this.staging.getMappedRange().slice(0));
    this.staging.unmap();
    // a driver that reports no usable timestamps (zeros, or end before begin) falls back to wall time
    return end > begin ? Number(end - begin) / 1e6 : wall;
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolve?.destroy();
    this.staging?.destroy();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface Built {
  label: string;
  choice: object;
  kernels: Kernels;
  trial: Trial;
}

/**
 * Tunes the roles of a model whose weights are on the device. Returns the plan with each role's
 * fastest agreeing candidate, and what was tried.
 */
export async function tuneKernels(device: GPUDevice, cfg: ModelConfig, weights: ModelWeights, opts: TuneOptions): Promise<TuneResult> {
  const t0 = performance.now();
  const kvType = opts.kvType ?? 'f16';
  const base = new Kernels(device, cfg, opts.base, kvType).plan;
  const roles = opts.roles ?? KERNEL_ROLES;
  const samples = opts.samples ?? 5;
  const sampleMs = opts.sampleMs ?? 4;
  const search = opts.search ?? (cpuDriver(deviceAdapterText(device)) ? 'seeded' : 'full');
  const reference = new Kernels(device, cfg, base, kvType);
  const bench = new TuneBench(device, cfg, weights, reference, opts);
  const timer = new Timer(device, bench.s.step);
  const result: TuneResult = { plan: base, search, tuneMs: 0, timer: timer.kind, roles: [], dropped: [] };
  try {
    for (const [i, role] of roles.entries()) {
      opts.onProgress?.(i, roles.length, role);
      const r0 = performance.now();
      if (opts.budgetMs !== undefined && r0 - t0 > opts.budgetMs) {
        const choice = choiceOf(base, role);
        result.roles.push({ role, chosen: describeChoice(choice), choice, tried: [], skipped: `the ${(opts.budgetMs / 1000).toFixed(0)} s tuning budget was spent`, wallMs: 0 });
        continue;
      }
      const ctx: CandidateContext = { device, cfg, weights, role, base: choiceOf(base, role), search, kvType };
      const list = [choiceOf(base, role), ...(opts.candidates ?? candidatesFor)(role, ctx)];
      const tuned = await tuneRole(role, list, base, bench, timer, { samples, sampleMs }, result.dropped);
      result.roles.push({ ...tuned, wallMs: performance.now() - r0 });
      result.plan = withChoice(result.plan, role, tuned.choice);
    }
    opts.onProgress?.(roles.length, roles.length, roles[roles.length - 1]);
  } finally {
    timer.destroy();
    bench.destroy();
  }
  result.plan = { ...result.plan, source: 'tuned' };
  result.tuneMs = performance.now() - t0;
  return result;
}

async function tuneRole(
  role: KernelRole,
  choices: object[],
  base: KernelPlan,
  bench: TuneBench,
  timer: Timer,
  opts: { samples: number; sampleMs: number },
  dropped: TuneResult['dropped'],
): Promise<Omit<RoleTuning, 'wallMs'>> {
  const { device } = bench;
  const seen = new Set<string>();
  const tried: TriedCandidate[] = [];
  const built: Built[] = [];
  // 1. Build every candidate, its pipelines compiling in parallel; drop what fails.
  const pending: { b: Built; compiled: Promise<void> }[] = [];
  for (const choice of choices) {
    const key = JSON.stringify(choice);
    if (seen.has(key)) continue;
    seen.add(key);
    const label = describeChoice(choice);
    try {
      const { value, compiled } = compileInBackground(device, () => {
        const kernels = new Kernels(device, bench.cfg, withChoice(base, role, choice), bench.s.kvType);
        return { label, choice, kernels, trial: bench.trial(role, kernels) };
      });
      pending.push({ b: value, compiled });
    } catch (e) {
      tried.push({ label, choice, error: message(e) });
      dropped.push({ role, label, reason: message(e) });
    }
  }
  for (const { b, compiled } of pending) {
    try {
      await compiled;
      built.push(b);
    } catch (e) {
      b.trial.destroy();
      tried.push({ label: b.label, choice: b.choice, error: message(e) });
      dropped.push({ role, label: b.label, reason: message(e) });
    }
  }
  try {
    if (built.length === 0 || built[0].choice !== choices[0]) throw new Error(`tune ${role}: the reference (${describeChoice(choices[0])}) did not build`);
    // 2. Each candidate's output on the same inputs, against the reference's.
    const outputs: Float32Array[] = [];
    for (const b of built) {
      bench.resetInputs();
      device.pushErrorScope('validation');
      await timer.run(b.trial, 1);
      const err = await device.popErrorScope();
      outputs.push(err ? new Float32Array([NaN]) : new Float32Array(await readBuffer(device, b.trial.output, b.trial.outputBytes)));
    }
    const agreeing: Built[] = [];
    built.forEach((b, i) => {
      const d = agreement(outputs[i], outputs[0]);
      if (d <= AGREEMENT_RMS) return agreeing.push(b);
      const reason = `disagrees with the reference: relative RMS difference ${d.toExponential(2)} (limit ${AGREEMENT_RMS.toExponential(2)})`;
      tried.push({ label: b.label, choice: b.choice, error: reason });
      dropped.push({ role, label: b.label, reason });
    });
    // 3. Time them round-robin; repetitions sized on the reference so one sample lasts sampleMs.
    await timer.run(agreeing[0].trial, 1);
    const once = await timer.run(agreeing[0].trial, 1);
    const reps = Math.max(1, Math.min(256, Math.ceil(opts.sampleMs / Math.max(once, 1e-3))));
    // runs of 50 ms and more (the emulators at full size) vary little between samples: 3 do
    const samples = once > 50 ? Math.min(3, opts.samples) : opts.samples;
    const times = agreeing.map(() => [] as number[]);
    for (let s = 0; s < samples; s++) {
      for (const [i, b] of agreeing.entries()) times[i].push((await timer.run(b.trial, reps)) / reps);
    }
    const ms = times.map(median);
    agreeing.forEach((b, i) => tried.push({ label: b.label, choice: b.choice, ms: ms[i] }));
    // the reference keeps its place unless a candidate beats it by more than the timing noise
    let best = 0;
    for (let i = 1; i < agreeing.length; i++) if (ms[i] < ms[best] && ms[i] < ms[0] * (1 - MIN_GAIN)) best = i;
    return { role, chosen: agreeing[best].label, choice: agreeing[best].choice, ms: ms[best], referenceMs: ms[0], tried };
  } finally {
    for (const b of built) b.trial.destroy();
  }
}

/** What the app shows and reports of the plan in use: its choices, and how they were made. */
export interface TuningReport {
  /** 'table': the hand-tuned table; 'tuned': timed on this adapter (now, or reused: savedAt). */
  source: 'table' | 'tuned';
  /** The candidates searched (candidates.ts): every variant, or the tables' neighbourhood. */
  search?: CandidateContext['search'];
  /** When a reused plan was tuned (ms since the epoch); absent when tuned during this load. */
  savedAt?: number;
  tuneMs?: number;
  timer?: 'timestamp' | 'wall';
  roles: { role: KernelRole; chosen: string; ms?: number; referenceMs?: number; candidates?: number; skipped?: string }[];
  dropped: { role: KernelRole; label: string; reason: string }[];
}

/** The report of a tuning run. */
export function tuningReport(r: TuneResult): TuningReport {
  return {
    source: 'tuned',
    search: r.search,
    tuneMs: r.tuneMs,
    timer: r.timer,
    roles: r.roles.map((x) => ({ role: x.role, chosen: x.chosen, ms: x.ms, referenceMs: x.referenceMs, candidates: x.tried.length, skipped: x.skipped })),
    dropped: r.dropped,
  };
}

/** The report of a plan used without tuning (the table's). */
export function planReport(plan: KernelPlan): TuningReport {
  return { source: plan.source, roles: KERNEL_ROLES.map((role) => ({ role, chosen: describeChoice(choiceOf(plan, role)) })), dropped: [] };
}
