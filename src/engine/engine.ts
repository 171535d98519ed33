/**
 * The Phi-3 engine on one GPUDevice: weights, KV cache, the two forward graphs and the sampler, and
 * the generate loop. It takes a device and a weight source, so it runs in the browser worker, in
 * Node tests and in the CLI alike. Pipelines, buffers and bind groups are made once at load; a step
 * writes two small uniforms and records one command encoder.
 *
 *   generate(prompt):
 *     1. keep the cached prefix of the prompt (KV reuse across turns)
 *     2. prefill the rest in chunks (prefill.ts; a one-token step runs decode.ts), sample the first token
 *     3. decode: each step embeds the token the sampler chose on the GPU, runs the layers, samples
 *        the next; step t+1 is submitted before step t's token is read back (decode.ts, sampler.ts)
 */
import { isDenseLayer, kvTypeProblem, type KvType, type ModelConfig } from '../model/config.ts';
import { sparseKeysRead } from '../kernels/attention.ts';
import type { ByteSource, GGUFFile } from '../model/gguf-types.ts';
import { PENALTY_WINDOW, type Sampling } from '../common/sampling.ts';
import { packStep, stepUniforms } from '../kernels/step.ts';
import type { SampleSettings } from '../kernels/sample.ts';
import { compileInBackground, settleAll } from '../gpu/pipelines.ts';
import { Kernels } from './kernels.ts';
import { planWeights, type LoadProgress, type ModelWeights } from './weights.ts';
import type { KernelPlan } from './plan.ts';
import { StepState } from './state.ts';
import { PrefillGraph } from './prefill.ts';
import { DecodeGraph } from './decode.ts';
import { LayerNormDecodeGraph } from './decode-layernorm.ts';
import { LayerNormPrefillGraph } from './prefill-layernorm.ts';
import type { PassFactory } from './profile.ts';
import { Sampler, type GeneratedToken } from './sampler.ts';
import { ContextFullError, InvalidRequestError } from '../common/errors.ts';
import { CountingPass, type DispatchProfiler, type StepPass } from './profile.ts';

export type { GeneratedToken } from './sampler.ts';

/** A graph of one token (decode.ts, decode-layernorm.ts). */
interface DecodeStep {
  encode(pos: number, begin: PassFactory, tail?: (pass: GPUComputePassEncoder) => void): number;
  readonly bytes: number;
  destroy(): void;
}

/** A graph of a chunk of tokens (prefill.ts, prefill-layernorm.ts). */
interface PrefillStep {
  encode(enc: GPUCommandEncoder, pos0: number, m: number, begin: PassFactory, tail?: (pass: GPUComputePassEncoder) => void): number;
  readonly bytes: number;
  destroy(): void;
}

export interface EngineOptions {
  /** Positions the KV cache holds (default: the model's context length). */
  contextLength?: number;
  /**
   * How the KV cache stores K and V (default 'f16'; src/model/config.ts KvType): 'q8_0' is ggml's
   * 8-bit block, 54% of the f16 cache's GPU bytes at Phi-3's head size (src/kernels/kv-layout.ts);
   * it needs a head size that is a multiple of 32 (kvTypeProblem).
   */
  kvType?: KvType;
  /** Tokens per prefill step (default 128). */
  prefillChunk?: number;
  /** Apply the model's sliding window (default true; llama.cpp 3.21.1 ignores it for phi3). */
  slidingWindow?: boolean;
  /** Recent tokens the repetition penalty looks at (default 64, llama.cpp's repeat_last_n). */
  penaltyWindow?: number;
  onProgress?: (p: LoadProgress) => void;
  /** Called when every weight is uploaded, and tuned if tuning (pipelines may still be compiling). */
  onUploaded?: () => void;
  /** Which kernel variant and shape runs each role (default: the adapter's table, src/engine/plan.ts tablePlan). */
  plan?: KernelPlan;
  /**
   * Without `plan`: called once the weights are uploaded, before any of the engine's pipelines is
   * made, to choose the plan on this device (the autotuner, src/engine/tune.ts).
   */
  tune?: (weights: ModelWeights) => Promise<KernelPlan>;
}

export interface GenerateOptions {
  maxTokens: number;
  /** How each token is drawn (GREEDY for the likeliest). */
  sampling: Sampling;
  /** Token ids that end generation (not emitted). */
  stopIds?: Iterable<number>;
  /** Top logprobs to return per token (0..256). */
  topLogprobs?: number;
  signal?: AbortSignal;
  onToken?: (t: GeneratedToken) => void;
}

export type FinishReason = 'stop' | 'length' | 'context_full' | 'abort';

export interface GenerateResult {
  tokens: GeneratedToken[];
  finishReason: FinishReason;
  /** Prompt tokens, of which `cachedTokens` were already in the KV cache and not prefilled. */
  promptTokens: number;
  cachedTokens: number;
  prefillMs: number;
  decodeMs: number;
}

export interface EngineCounters {
  /** Tokens run through the model in prefill steps, and decode steps. */
  prefillTokens: number;
  decodeSteps: number;
  submits: number;
  readbacks: number;
  /** Dispatches recorded by the last decode step. */
  dispatchesPerDecodeStep: number;
}

export class Engine {
  readonly maxCtx: number;
  /** Keys a query sees at most (the sliding window when applied), 0 = all of them. */
  readonly attentionWindow: number;
  /**
   * Milliseconds from the start of the background pipeline compiles to the last one done (it
   * overlaps the weight upload), set by load(); undefined for an engine made otherwise.
   */
  compileMs?: number;
  readonly chunk: number;
  readonly counters: EngineCounters = { prefillTokens: 0, decodeSteps: 0, submits: 0, readbacks: 0, dispatchesPerDecodeStep: 0 };
  /** Set while profiling (src/engine/profile.ts): it may record a step's dispatches as timed passes. */
  profiler?: DispatchProfiler;
  /** Token ids whose K/V are in the cache, in order. */
  private cached: number[] = [];
  private readonly state: StepState;
  private readonly prefillGraph: PrefillStep;
  private readonly decodeGraph: DecodeStep;
  private readonly sampler: Sampler;
  private readonly stepBytes = new ArrayBuffer(stepUniforms.byteSize);

  private constructor(
    readonly device: GPUDevice,
    readonly cfg: ModelConfig,
    readonly weights: ModelWeights,
    readonly kernels: Kernels,
    opts: EngineOptions,
  ) {
    this.maxCtx = opts.contextLength ?? cfg.contextLength;
    this.attentionWindow = opts.slidingWindow !== false ? cfg.slidingWindow : 0;
    this.chunk = Math.max(1, Math.min(opts.prefillChunk ?? 128, this.maxCtx));
    const made: { destroy(): void }[] = [];
    const keep = <T extends { destroy(): void }>(x: T): T => (made.push(x), x);
    try {
      this.state = keep(new StepState(device, kernels, cfg, weights, { maxCtx: this.maxCtx, chunk: this.chunk, slidingWindow: opts.slidingWindow !== false, kvType: kernels.kvType }));
      // phi3small's layer (LayerNorm, biases, GeGeLU) has graphs of its own; phi3 and llama share theirs
      const small = cfg.arch === 'phi3small';
      this.prefillGraph = keep(small ? new LayerNormPrefillGraph(kernels, cfg, weights, this.state) : new PrefillGraph(kernels, cfg, weights, this.state));
      this.decodeGraph = keep(small ? new LayerNormDecodeGraph(kernels, cfg, weights, this.state) : new DecodeGraph(kernels, cfg, weights, this.state));
      this.sampler = keep(new Sampler(device, kernels.sample, this.state.logits, cfg.vocabSize, opts.penaltyWindow ?? PENALTY_WINDOW));
    } catch (e) {
      for (const x of made) x.destroy();
      throw e;
    }
  }

  /**
   * Makes the weights' buffers and the engine (its kernels' pipelines compiling in the background,
   * src/gpu/pipelines.ts), then uploads the weights while the driver compiles; resolves when both
   * are done. No pipeline is created after this. On failure everything made is destroyed.
   */
  static async load(device: GPUDevice, file: GGUFFile, src: ByteSource, cfg: ModelConfig, opts: EngineOptions = {}): Promise<Engine> {
    const contextLength = opts.contextLength ?? cfg.contextLength;
    // before any upload: a model whose cache cannot be kvType
    const kvProblem = kvTypeProblem(cfg, opts.kvType ?? 'f16');
    if (kvProblem) throw new InvalidRequestError(kvProblem);
    const { weights, fill } = planWeights(device, file, src, cfg, { contextLength, onProgress: opts.onProgress });
    let plan = opts.plan;
    const tuning = !plan && opts.tune !== undefined;
    if (tuning) {
      // the tuner times kernels on the real weights: upload first, then choose, then build
      try {
        await fill();
        plan = await opts.tune!(weights);
        // after the tuning: what remains is compiling the chosen pipelines
        opts.onUploaded?.();
      } catch (e) {
        weights.destroy();
        throw e;
      }
    }
    let engine: Engine;
    let compiled: Promise<void>;
    const t0 = performance.now();
    try {
      ({ value: engine, compiled } = compileInBackground(device, () => new Engine(device, cfg, weights, new Kernels(device, cfg, plan, opts.kvType ?? 'f16'), opts)));
    } catch (e) {
      weights.destroy();
      throw e;
    }
    try {
      const timed = compiled.then(() => {
        engine.compileMs = performance.now() - t0;
      });
      await settleAll([tuning ? Promise.resolve() : fill().then(() => opts.onUploaded?.()), timed]);
    } catch (e) {
      engine.destroy();
      throw e;
    }
    return engine;
  }

  /** How the KV cache stores K and V. */
  get kvType(): KvType {
    return this.state.kvType;
  }

  /** Bytes of the KV cache's GPU buffers (every layer's K and V). */
  get kvBytes(): number {
    return this.state.kvBytes;
  }

  /**
   * Cache rows (one KV head's K and V at one position) that the decode step at `pos` reads, summed
   * over layers: `rows` counts a row once however many query heads of its group see it (the
   * fewest bytes memory must deliver), `headRows` once per query head that sees it (what the
   * split-K workgroups, one per query head, load); `dense*` the same for causal attention over
   * the same window on every layer. Times kvBytes / (maxCtx nLayers nKvHeads) for bytes.
   */
  kvRowsRead(pos: number): { rows: number; denseRows: number; headRows: number; denseHeadRows: number } {
    const { nHeads, nKvHeads, nLayers, blockSparse } = this.cfg;
    const dense = sparseKeysRead(undefined, nHeads, nKvHeads, pos, this.attentionWindow);
    const sparse = blockSparse ? sparseKeysRead(blockSparse, nHeads, nKvHeads, pos, this.attentionWindow) : dense;
    let rows = 0;
    let headRows = 0;
    for (let l = 0; l < nLayers; l++) {
      const r = isDenseLayer(this.cfg, l) ? dense : sparse;
      rows += r.perKvHeadUnion;
      headRows += r.perQueryHead;
    }
    return { rows, denseRows: nLayers * dense.perKvHeadUnion, headRows, denseHeadRows: nLayers * dense.perQueryHead };
  }

  /**
   * Bytes of every GPU buffer the engine holds: the weights (as repacked on the GPU), the step
   * state (activations, KV cache, uniforms, split-K scratch), the graphs' uniforms and hand-off
   * buffers, and the sampler's buffers (staging included).
   */
  get gpuBytes(): number {
    return this.weights.bufferBytes + this.state.bytes + this.prefillGraph.bytes + this.decodeGraph.bytes + this.sampler.bytes;
  }

  /** Bytes of weights a decode step reads (each tensor once). */
  get weightBytes(): number {
    return this.weights.totalBytes;
  }

  /** Tokens currently in the KV cache. */
  get cachedTokens(): readonly number[] {
    return this.cached;
  }

  /** [vocab] f32: the logits of the last position of the last step. */
  get logits(): GPUBuffer {
    return this.state.logits;
  }

  /** Forgets the KV cache (its contents are simply overwritten later). */
  reset(): void {
    this.cached = [];
  }

  /**
   * Generates after `promptIds`: the longest prefix of them already in the KV cache is kept (a
   * conversation's earlier turns), the rest prefilled, then tokens are decoded until a stop token,
   * maxTokens, an abort or a full context.
   */
  async generate(promptIds: number[], opts: GenerateOptions): Promise<GenerateResult> {
    if (promptIds.length === 0) throw new InvalidRequestError('The prompt is empty: give at least one token.');
    if (promptIds.length > this.maxCtx) {
      throw new ContextFullError(`The prompt has ${promptIds.length} tokens but the context holds ${this.maxCtx}; shorten the conversation or load a longer context.`);
    }
    const nTop = Math.max(0, Math.min(opts.topLogprobs ?? 0, this.kernels.sample.cap));
    const s = opts.sampling;
    const settings: SampleSettings = { ...s, penaltyWindow: s.repetitionPenalty !== 1 ? this.sampler.penaltyWindow : 0, seed: s.seed >>> 0, nTop };
    const stop = new Set(opts.stopIds ?? []);

    // 1. KV-cache reuse: keep the common prefix, but always run at least the last prompt token.
    let common = 0;
    while (common < this.cached.length && common < promptIds.length - 1 && this.cached[common] === promptIds[common]) common++;
    this.cached = promptIds.slice(0, common);
    const t0 = performance.now();
    const finish = (tokens: GeneratedToken[], finishReason: FinishReason, t1: number): GenerateResult => ({
      tokens,
      finishReason,
      promptTokens: promptIds.length,
      cachedTokens: common,
      prefillMs: t1 - t0,
      decodeMs: performance.now() - t1,
    });
    if (opts.signal?.aborted) return finish([], 'abort', t0);

    // 2. Prefill the rest; its last step samples the first token into staging 0.
    this.sampler.start(promptIds);
    this.prefill(promptIds.slice(common), { settings, nTop });

    // 3. Decode, pipelined: the step that consumes the pending token (its id reaches the GPU
    //    through the sampler's nextId, never through the CPU) is submitted before the pending
    //    token is read, so the GPU never waits for the CPU's round trip. Each decision (stop,
    //    max_tokens, abort, context full) is made when the token is read, one step late: the
    //    speculative step then wrote K/V at position `cached.length`, which `cached` does not
    //    claim, so that slot is rewritten by whatever step next runs at that position before any
    //    attention reads it (attention reads positions < its own, each written by its own step).
    const tokens: GeneratedToken[] = [];
    let t1 = t0;
    let slot = 0;
    for (let step = 1; ; step++) {
      // Position of the pending token = where the step consuming it writes its K/V.
      const pos = this.cached.length;
      if (tokens.length + 1 < opts.maxTokens && pos < this.maxCtx && !opts.signal?.aborted) {
        this.decodeOneToken(pos, settings, step, 1 - slot);
      }
      const next = await this.sampler.read(slot, nTop);
      this.counters.readbacks++;
      if (tokens.length === 0) t1 = performance.now();
      if (stop.has(next.id)) return finish(tokens, 'stop', t1);
      tokens.push(next);
      opts.onToken?.(next);
      if (tokens.length >= opts.maxTokens) return finish(tokens, 'length', t1);
      if (opts.signal?.aborted) return finish(tokens, 'abort', t1);
      if (pos >= this.maxCtx) return finish(tokens, 'context_full', t1);
      // Every condition of the submit above held (an abort seen now but not then returned just
      // above), so the step consuming `next` is in flight.
      this.cached.push(next.id);
      slot = 1 - slot;
    }
  }

  /**
   * Runs `ids` into the KV cache after the cached tokens, without sampling; the logits of the last
   * one are left in `logits`. A chat uses generate(); this serves tests and tools that read logits.
   */
  forward(ids: readonly number[]): void {
    if (this.cached.length + ids.length > this.maxCtx) {
      throw new ContextFullError(`${this.cached.length + ids.length} tokens exceed the context (${this.maxCtx} positions)`);
    }
    this.prefill(ids);
  }

  /** Submits `ids` in steps of at most `chunk` tokens; with `sample`, the last step also samples into staging 0. */
  private prefill(ids: readonly number[], sample?: { settings: SampleSettings; nTop: number }): void {
    for (let at = 0; at < ids.length; at += this.chunk) {
      const part = ids.slice(at, at + this.chunk);
      const last = at + this.chunk >= ids.length;
      this.device.queue.writeBuffer(this.state.ids, 0, new Uint32Array(part));
      if (sample && last) this.sampler.setStep(sample.settings, 0);
      this.submitStep(this.cached.length, part.length, false, sample && last ? { slot: 0, nTop: sample.nTop } : undefined);
      this.counters.prefillTokens += part.length;
      this.cached.push(...part);
    }
  }

  /** Submits the decode step of the token the sampler chose last, at `pos`; it samples the next into staging `slot`. */
  private decodeOneToken(pos: number, settings: SampleSettings, step: number, slot: number): void {
    this.sampler.setStep(settings, step);
    this.counters.dispatchesPerDecodeStep = this.submitStep(pos, 1, true, { slot, nTop: settings.nTop });
    this.counters.decodeSteps++;
  }

  /**
   * Records and submits one step of m tokens at pos0: their ids are in `ids`, or (`idFromSampler`)
   * the sampler's last choice is copied there on the GPU. A step of one token runs the decode
   * graph, a longer one the prefill graph. Returns the dispatches recorded.
   */
  private submitStep(pos0: number, m: number, idFromSampler: boolean, sample?: { slot: number; nTop: number }): number {
    const { device, state } = this;
    device.queue.writeBuffer(state.step, 0, packStep({ pos0, nTokens: m }, this.stepBytes));
    const enc = device.createCommandEncoder({ label: `step ${pos0}+${m}` });
    if (idFromSampler) enc.copyBufferToBuffer(this.sampler.nextId, 0, state.ids, 0, 4);
    const begin = (label: string): StepPass => this.profiler?.begin(enc, label, m) ?? new CountingPass(enc.beginComputePass({ label }));
    const tail = sample && ((pass: GPUComputePassEncoder) => this.sampler.encode(pass));
    const dispatches = m === 1 ? this.decodeGraph.encode(pos0, begin, tail) : this.prefillGraph.encode(enc, pos0, m, begin, tail);
    if (sample) this.sampler.encodeReadback(enc, sample.slot, sample.nTop);
    device.queue.submit([enc.finish()]);
    this.counters.submits++;
    return dispatches;
  }

  destroy(): void {
    this.prefillGraph.destroy();
    this.decodeGraph.destroy();
    this.sampler.destroy();
    this.state.destroy();
    this.weights.destroy();
  }
}
