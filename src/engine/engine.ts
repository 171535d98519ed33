/**
 * The Phi-3 engine: weights, KV cache and the forward pass on one GPUDevice, plus the
 * generate loop (chunked prefill, decode, sampling on the GPU, stop tokens, max_tokens, abort,
 * context-full). It takes a device and a weight source, so it runs in the browser worker, in
 * Node tests and in the CLI alike. Pipelines, buffers and bind groups are made once at load;
 * a step writes two small uniforms and records one command encoder.
 *
 *   step(M tokens at pos0):
 *     x = embed(ids)
 *     per layer: xb = norm(x); qkv = Wqkv xb; q, K/V cache = rope(qkv); att = attention(q, cache)
 *                x += Wo att; xb = norm(x); gu = Wup xb; h = silu(gate) * up; x += Wdown h
 *     logits = Wout norm(x[M-1]);  next id, top logprobs = sample(logits)
 *
 *   Decode (M = 1) fuses, per layer: norm + QKV (norm_matvec); RoPE + KV append + split-K
 *   attention (attention_decode_rope), merge; Wo (+ residual); norm + gate/up + SiLU * up
 *   (swiglu_matvec); Wdown (+ residual): 6 dispatches, plus embed, norm + lm_head and the two
 *   sampler passes (196 for Phi-3-mini's 32 layers). Wo and Wdown also hand the norm after them
 *   x * g and partial sums of x^2 (matvec_store_norm.wgsl), so those fused norms load no g and
 *   square nothing (all but layer 0's attn_norm). generate() submits step t+1 before it
 *   maps step t's result (two staging buffers), so the CPU round trip overlaps GPU work.
 */
import type { ModelConfig } from '../model/config.ts';
import type { ByteSource, GGUFFile } from '../model/gguf-types.ts';
import { createStorage } from '../gpu/buffers.ts';
import { createStepBuffer, packStep, stepUniforms } from '../kernels/step.ts';
import { kvCacheBytes } from '../kernels/rope_kv.ts';
import type { AttentionBinding } from '../kernels/attention.ts';
import type { Sampling } from '../common/sampling.ts';
import { GREEDY, historyInit, parseResult, type SampleBinding, type SampleIo, type SampleSettings } from '../kernels/sample.ts';
import { Kernels } from './kernels.ts';
import { BoundLinear, BoundNormLinear, BoundSwiglu, type NormHandoff, type PrescaledInput } from './linear.ts';
import { planWeights, type LoadProgress, type ModelWeights } from './weights.ts';
import { compileInBackground, settleAll } from '../gpu/pipelines.ts';
import { ContextFullError } from '../common/errors.ts';
import type { DispatchProfiler, StepPass } from './profile.ts';

export interface EngineOptions {
  /** Positions the KV cache holds (default: the model's context length). */
  contextLength?: number;
  /** Tokens per prefill step (default 128). */
  prefillChunk?: number;
  /** Apply the model's sliding window (default true; llama.cpp 3.21.1 ignores it for phi3). */
  slidingWindow?: boolean;
  /** Recent tokens the repetition penalty looks at (default 64, llama.cpp's repeat_last_n). */
  penaltyWindow?: number;
  onProgress?: (p: LoadProgress) => void;
  /** Called when every weight is uploaded (pipelines may still be compiling). */
  onUploaded?: () => void;
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

export interface GeneratedToken {
  id: number;
  /** [id, logprob] of the most likely tokens, best first (after penalty and temperature). */
  top: [number, number][];
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

interface LayerBinding {
  attnNorm: GPUBindGroup;
  qkv: BoundLinear;
  rope: GPUBindGroup;
  attention: AttentionBinding;
  wo: BoundLinear;
  ffnNorm: GPUBindGroup;
  up: BoundLinear;
  silu: GPUBindGroup;
  down: BoundLinear;
  /** Decode (m = 1) fusions: attn-norm + QKV; RoPE + KV append + attention; ffn-norm + gate/up + SiLU. */
  normQkv: BoundNormLinear;
  attRope: GPUBindGroup;
  swiglu?: BoundSwiglu;
}

/** Counts dispatches while forwarding to the real pass encoder. */
class CountingPass {
  dispatches = 0;
  constructor(readonly pass: GPUComputePassEncoder) {}
  setPipeline(p: GPUComputePipeline): void {
    this.pass.setPipeline(p);
  }
  setBindGroup(i: number, g: GPUBindGroup): void {
    this.pass.setBindGroup(i, g);
  }
  dispatchWorkgroups(x: number, y?: number, z?: number): void {
    this.dispatches++;
    this.pass.dispatchWorkgroups(x, y, z);
  }
  end(): void {
    this.pass.end();
  }
  get encoder(): GPUComputePassEncoder {
    return this as unknown as GPUComputePassEncoder;
  }
}

export class Engine {
  readonly maxCtx: number;
  readonly chunk: number;
  readonly counters: EngineCounters = { prefillTokens: 0, decodeSteps: 0, submits: 0, readbacks: 0, dispatchesPerDecodeStep: 0 };
  /** Token ids whose K/V are in the cache, in order. */
  private cached: number[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly linears: BoundLinear[] = [];
  private readonly fused: (BoundNormLinear | BoundSwiglu)[] = [];
  private readonly layers: LayerBinding[];
  private readonly buf: Record<'x' | 'xb' | 'qkv' | 'q' | 'att' | 'gu' | 'h' | 'xLast' | 'logits' | 'ids' | 'step' | 'xg' | 'partials', GPUBuffer>;
  private readonly embedParams: { params: GPUBuffer; k: number; rows: number; rowOffset: number; group: GPUBindGroup }[];
  /** Final norm + lm_head of the last position (one norm_matvec dispatch per part), after a prefill chunk. */
  private readonly normOutput: BoundNormLinear;
  /** The same after a decode step: reads what the last ffn_down handed off (x * g, sums of squares). */
  private readonly normOutputDecode: BoundNormLinear;
  private readonly sampleIo: SampleIo;
  private readonly sampleBinding: SampleBinding;
  /** Two result buffers used alternately: step t+1 copies into one while step t's is mapped. */
  private readonly staging: [GPUBuffer, GPUBuffer];
  private readonly stepBytes = new ArrayBuffer(stepUniforms.byteSize);
  private readonly penaltyWindow: number;
  private embedM = -1;
  /** Set while profiling (src/engine/profile.ts): it may record a step's dispatches as timed passes. */
  profiler?: DispatchProfiler;

  private constructor(
    readonly device: GPUDevice,
    readonly cfg: ModelConfig,
    readonly weights: ModelWeights,
    readonly kernels: Kernels,
    opts: EngineOptions,
  ) {
    const { dim, kvDim, ffnDim, vocabSize, nLayers, nHeads, nKvHeads, headDim } = cfg;
    this.maxCtx = opts.contextLength ?? cfg.contextLength;
    this.chunk = Math.max(1, Math.min(opts.prefillChunk ?? 128, this.maxCtx));
    this.penaltyWindow = opts.penaltyWindow ?? 64;
    const M = this.chunk;
    const qkvDim = dim + 2 * kvDim;
    const f32 = (n: number, label: string) => this.own(createStorage(device, n * 4, label));
    this.buf = {
      x: f32(M * dim, 'x'),
      xb: f32(M * dim, 'xb'),
      qkv: f32(M * qkvDim, 'qkv'),
      q: f32(M * dim, 'q'),
      att: f32(M * dim, 'att'),
      gu: f32(M * 2 * ffnDim, 'gu'),
      h: f32(M * ffnDim, 'h'),
      xLast: f32(dim, 'xLast'),
      logits: f32(vocabSize, 'logits'),
      ids: f32(M, 'ids'),
      step: this.own(createStepBuffer(device)),
      // decode hand-off from each residual projection to the next norm (linear.ts NormHandoff)
      xg: f32(dim, 'xg'),
      partials: this.own(createStorage(device, handoffBytes(kernels, weights, dim), 'norm partials')),
    };
    const b = this.buf;
    const k = kernels;

    // Static uniforms shared by every layer.
    const eps = cfg.normEps;
    const normParams = this.own(k.rmsnorm.createParams(dim, M, eps));
    const ropeParams = this.own(
      k.ropeKv.createParams({ nHeads, nKvHeads, headDim, ropeDim: cfg.ropeDim, maxCtx: this.maxCtx, base: cfg.ropeTheta, attnFactor: cfg.ropeAttnFactor }),
    );
    const factors = weights.ropeFactors ?? this.own(k.ropeKv.createUnitFactors(cfg.ropeDim));
    const attShape = { nHeads, nKvHeads, headDim, maxCtx: this.maxCtx, window: opts.slidingWindow === false ? 0 : cfg.slidingWindow };
    const attParams = this.own(k.attention.createParams(attShape));
    const attScratch = k.attention.createScratch(attShape);
    this.own(attScratch.partO);
    this.own(attScratch.partML);
    const siluParams = this.own(k.siluMul.createParams(ffnDim));

    const linear = (l: BoundLinear) => (this.linears.push(l), l);
    const fused = <T extends BoundNormLinear | BoundSwiglu>(l: T) => (this.fused.push(l), l);
    // Decode: Wo and ffn_down (residual adds) hand the next norm x * g and the sums of squares, so
    // the fused norm kernels after them load neither g nor x^2 (all but layer 0's attn_norm).
    const handoff = (g: GPUBuffer): NormHandoff => ({ g, xg: b.xg, partials: b.partials });
    let fromDown: PrescaledInput | undefined;
    this.layers = [];
    for (let l = 0; l < nLayers; l++) {
      const w = weights.layers[l];
      const kc = this.own(createStorage(device, kvCacheBytes(nKvHeads, this.maxCtx, headDim), `k${l}`));
      const vc = this.own(createStorage(device, kvCacheBytes(nKvHeads, this.maxCtx, headDim), `v${l}`));
      const nextNorm = l + 1 < nLayers ? weights.layers[l + 1].attnNorm : weights.outputNorm;
      const wo = linear(new BoundLinear(k, w.wo, b.att, b.x, dim, true, BoundSwiglu.fits(w.up, ffnDim) ? handoff(w.ffnNorm) : undefined));
      const down = linear(new BoundLinear(k, w.down, b.h, b.x, dim, true, handoff(nextNorm)));
      this.layers.push({
        attnNorm: k.rmsnorm.bind(b.x, w.attnNorm, b.xb, normParams),
        qkv: linear(new BoundLinear(k, w.qkv, b.xb, b.qkv, qkvDim, false)),
        rope: k.ropeKv.bind(b.qkv, factors, b.q, kc, vc, b.step, ropeParams),
        attention: k.attention.bind(attShape, b.q, kc, vc, b.att, b.step, attParams, attScratch),
        wo,
        ffnNorm: k.rmsnorm.bind(b.x, w.ffnNorm, b.xb, normParams),
        up: linear(new BoundLinear(k, w.up, b.xb, b.gu, 2 * ffnDim, false)),
        silu: k.siluMul.bind(b.gu, b.h, siluParams),
        down,
        normQkv: fused(new BoundNormLinear(k, w.qkv, b.x, w.attnNorm, b.qkv, eps, fromDown)),
        attRope: k.attention.bindRope(attShape, { qkv: b.qkv, factors, ropeParams }, kc, vc, b.step, attParams, attScratch),
        swiglu: BoundSwiglu.tryCreate(k, w.up, b.x, w.ffnNorm, b.h, ffnDim, eps, wo.prescaled),
      });
      const sw = this.layers[l].swiglu;
      if (sw) fused(sw);
      fromDown = down.prescaled;
    }
    const embedKernel = k.embed(weights.embed.format);
    this.embedParams = weights.embed.parts.map(({ weight, rowOffset }) => {
      const params = this.own(embedKernel.createParams(weight.k, weight.rows, 1, rowOffset));
      return { params, k: weight.k, rows: weight.rows, rowOffset, group: embedKernel.bind(weight, b.ids, b.x, params) };
    });
    this.normOutput = fused(new BoundNormLinear(k, weights.output, b.xLast, weights.outputNorm, b.logits, eps));
    this.normOutputDecode = fromDown ? fused(new BoundNormLinear(k, weights.output, b.xLast, weights.outputNorm, b.logits, eps, fromDown)) : this.normOutput;
    this.sampleIo = k.sample.createIo(b.logits, this.penaltyWindow);
    for (const x of [this.sampleIo.history, this.sampleIo.nextId, this.sampleIo.result, this.sampleIo.params]) this.own(x);
    const scratch = k.sample.createScratch(vocabSize);
    for (const x of [scratch.candidates, scratch.partials, scratch.zkeys]) this.own(x);
    this.sampleBinding = k.sample.bind(this.sampleIo, scratch, vocabSize);
    const staging = (i: number) =>
      this.own(device.createBuffer({ label: `sample.staging${i}`, size: k.sample.resultBytes(), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
    this.staging = [staging(0), staging(1)];
  }

  /**
   * Makes the weights' buffers and the engine (its kernels' pipelines compiling in the background,
   * src/gpu/pipelines.ts), then uploads the weights while the driver compiles; resolves when both
   * are done. No pipeline is created after this (drivers that finish compiling at a pipeline's
   * first dispatch, like lavapipe, still do that then). On failure everything made is destroyed.
   */
  static async load(device: GPUDevice, file: GGUFFile, src: ByteSource, cfg: ModelConfig, opts: EngineOptions = {}): Promise<Engine> {
    const contextLength = opts.contextLength ?? cfg.contextLength;
    const { weights, fill } = planWeights(device, file, src, cfg, { contextLength, onProgress: opts.onProgress });
    let engine: Engine;
    let compiled: Promise<void>;
    try {
      ({ value: engine, compiled } = compileInBackground(device, () => new Engine(device, cfg, weights, new Kernels(device, cfg), opts)));
    } catch (e) {
      weights.destroy();
      throw e;
    }
    try {
      await settleAll([fill().then(() => opts.onUploaded?.()), compiled]);
    } catch (e) {
      engine.destroy();
      throw e;
    }
    return engine;
  }

  private own<T extends GPUBuffer>(b: T): T {
    this.owned.push(b);
    return b;
  }

  /** Bytes of weights a decode step reads (each tensor once). */
  get weightBytes(): number {
    return this.weights.totalBytes;
  }

  /** Tokens currently in the KV cache. */
  get cachedTokens(): readonly number[] {
    return this.cached;
  }

  /** Forgets the KV cache (its contents are simply overwritten later). */
  reset(): void {
    this.cached = [];
  }

  private setEmbedTokens(m: number): void {
    if (m === this.embedM) return;
    this.embedM = m;
    const e = this.kernels.embed(this.weights.embed.format);
    for (const p of this.embedParams) e.writeParams(p.params, p.k, p.rows, m, p.rowOffset);
  }

  private beginPass(enc: GPUCommandEncoder, label: string, m: number): StepPass {
    return this.profiler?.begin(enc, label, m) ?? new CountingPass(enc.beginComputePass({ label }));
  }

  /**
   * Records one step of m tokens at pos0 (ids already in `ids`, or copied from the sampler's
   * nextId when `chainFromSampler`), then samples and copies the result record to staging.
   */
  private encodeStep(pos0: number, m: number, chainFromSampler: boolean, nTop: number, slot = 0): { cmd: GPUCommandBuffer; dispatches: number } {
    const { device, kernels: k, buf: b, cfg } = this;
    device.queue.writeBuffer(b.step, 0, packStep({ pos0, nTokens: m }, this.stepBytes));
    this.setEmbedTokens(m);
    if (m > 1) for (const l of this.linears) l.setTokens(m);
    const enc = device.createCommandEncoder({ label: `step ${pos0}+${m}` });
    if (chainFromSampler) enc.copyBufferToBuffer(this.sampleIo.nextId, 0, b.ids, 0, 4);
    const pass = this.beginPass(enc, 'layers', m);
    const p = pass.encoder;
    const embed = k.embed(this.weights.embed.format);
    for (const e of this.embedParams) embed.encode(p, e.group, cfg.dim, m);
    for (const L of this.layers) {
      if (m === 1) {
        // Decode: 6 dispatches per layer (8 if a split ffn_up rules out the swiglu fusion).
        L.normQkv.encode(p);
        k.attention.encodeDecodeRope(p, L.attention, L.attRope, pos0);
        L.wo.encode(p, 1);
        if (L.swiglu) L.swiglu.encode(p);
        else {
          k.rmsnorm.encode(p, L.ffnNorm, 1);
          L.up.encode(p, 1);
          k.siluMul.encode(p, L.silu, cfg.ffnDim, 1);
        }
        L.down.encode(p, 1);
        continue;
      }
      k.rmsnorm.encode(p, L.attnNorm, m);
      L.qkv.encode(p, m);
      k.ropeKv.encode(p, L.rope, m, cfg.nHeads, cfg.nKvHeads);
      k.attention.encode(p, L.attention, { pos0, nTokens: m });
      L.wo.encode(p, m);
      k.rmsnorm.encode(p, L.ffnNorm, m);
      L.up.encode(p, m);
      k.siluMul.encode(p, L.silu, cfg.ffnDim, m);
      L.down.encode(p, m);
    }
    pass.end();
    enc.copyBufferToBuffer(b.x, (m - 1) * cfg.dim * 4, b.xLast, 0, cfg.dim * 4);
    const pass2 = this.beginPass(enc, 'head', m);
    const p2 = pass2.encoder;
    (m === 1 ? this.normOutputDecode : this.normOutput).encode(p2);
    k.sample.encode(p2, this.sampleBinding);
    pass2.end();
    k.sample.encodeReadback(enc, this.sampleIo, this.staging[slot], nTop);
    return { cmd: enc.finish(), dispatches: pass.dispatches + pass2.dispatches };
  }

  private async readResult(nTop: number, slot = 0): Promise<GeneratedToken> {
    const staging = this.staging[slot];
    await staging.mapAsync(GPUMapMode.READ, 0, this.kernels.sample.resultBytes(nTop));
    const r = parseResult(staging.getMappedRange(0, this.kernels.sample.resultBytes(nTop)).slice(0));
    staging.unmap();
    this.counters.readbacks++;
    return { id: r.id, top: r.top.slice(0, nTop) };
  }

  private settings(s: Sampling, nTop: number): SampleSettings {
    return { ...s, penaltyWindow: s.repetitionPenalty !== 1 ? this.penaltyWindow : 0, seed: s.seed >>> 0, nTop };
  }

  /**
   * Feeds `ids` after what is cached (prefill, in chunks) and samples the next token from the
   * last position. Reuses the longest cached prefix of `promptIds` when `reuse` is set.
   */
  async generate(promptIds: number[], opts: GenerateOptions): Promise<GenerateResult> {
    if (promptIds.length === 0) throw new Error('generate: the prompt is empty');
    if (promptIds.length > this.maxCtx) {
      throw new ContextFullError(`The prompt has ${promptIds.length} tokens but the context holds ${this.maxCtx}; shorten the conversation or load a longer context.`);
    }
    const nTop = Math.max(0, Math.min(opts.topLogprobs ?? 0, this.kernels.sample.cap));
    const settings = this.settings(opts.sampling, nTop);
    const stop = new Set(opts.stopIds ?? []);
    const vocab = this.cfg.vocabSize;

    // 1. KV-cache reuse: keep the common prefix, but always run at least the last prompt token.
    let common = 0;
    while (common < this.cached.length && common < promptIds.length - 1 && this.cached[common] === promptIds[common]) common++;
    this.cached = promptIds.slice(0, common);

    // 2. The repetition penalty's history starts with the prompt's last tokens.
    this.device.queue.writeBuffer(this.sampleIo.history, 0, historyInit(this.penaltyWindow, promptIds, 0) as Uint32Array<ArrayBuffer>);

    // 3. Prefill the rest in chunks; only the last chunk's sample matters (read into staging 0
    //    by the decode loop below, after it has queued the next step).
    const t0 = performance.now();
    let sampleStep = 0;
    for (let at = common; at < promptIds.length; at += this.chunk) {
      if (opts.signal?.aborted) return this.finish([], 'abort', promptIds.length, common, t0, t0);
      const ids = promptIds.slice(at, at + this.chunk);
      this.device.queue.writeBuffer(this.buf.ids, 0, new Uint32Array(ids));
      this.kernels.sample.writeParams(this.sampleIo.params, settings, sampleStep, vocab, this.penaltyWindow);
      const { cmd } = this.encodeStep(at, ids.length, false, nTop);
      this.device.queue.submit([cmd]);
      this.counters.submits++;
      this.counters.prefillTokens += ids.length;
      this.cached.push(...ids);
    }
    /** Time to the first token (set when it is read). */
    let t1 = t0;

    // 4. Decode, pipelined: the step that consumes the pending token (its id reaches the GPU
    //    through the sampler's nextId, never through the CPU) is submitted before the pending
    //    result is mapped, so the GPU never waits for the CPU's round trip. Each decision (stop,
    //    max_tokens, abort, context full) is made when the token is read, one step late: the
    //    speculative step then wrote K/V at position `cached.length`, which `cached` does not
    //    claim, so that slot is rewritten by whatever step next runs at that position before any
    //    attention reads it (attention reads positions < its own, each written by its own step).
    const tokens: GeneratedToken[] = [];
    let reason: FinishReason = 'length';
    let slot = 0;
    for (;;) {
      // Position of the pending token = where the step consuming it writes its K/V.
      const pos = this.cached.length;
      const mayNeed = tokens.length + 1 < opts.maxTokens && pos < this.maxCtx && !opts.signal?.aborted;
      if (mayNeed) {
        sampleStep++;
        this.kernels.sample.writeParams(this.sampleIo.params, settings, sampleStep, vocab, this.penaltyWindow);
        const { cmd, dispatches } = this.encodeStep(pos, 1, true, nTop, 1 - slot);
        this.device.queue.submit([cmd]);
        this.counters.submits++;
        this.counters.decodeSteps++;
        this.counters.dispatchesPerDecodeStep = dispatches;
      }
      const next = await this.readResult(nTop, slot);
      if (tokens.length === 0 && t1 === t0) t1 = performance.now();
      if (stop.has(next.id)) {
        reason = 'stop';
        break;
      }
      tokens.push(next);
      opts.onToken?.(next);
      if (tokens.length >= opts.maxTokens) {
        reason = 'length';
        break;
      }
      if (opts.signal?.aborted) {
        reason = 'abort';
        break;
      }
      if (pos >= this.maxCtx) {
        reason = 'context_full';
        break;
      }
      // mayNeed held (each of its conditions was just checked, abort included: an abort seen
      // now but not at submit time breaks above), so the step consuming `next` is in flight.
      this.cached.push(next.id);
      slot = 1 - slot;
    }
    return this.finish(tokens, reason, promptIds.length, common, t0, t1);
  }

  private finish(tokens: GeneratedToken[], finishReason: FinishReason, promptTokens: number, cachedTokens: number, t0: number, t1: number): GenerateResult {
    return { tokens, finishReason, promptTokens, cachedTokens, prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
  }

  /** The logits of the last step (debugging and tests). */
  async readLogits(): Promise<Float32Array> {
    const n = this.cfg.vocabSize * 4;
    const staging = this.device.createBuffer({ label: 'logits.read', size: n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.buf.logits, 0, staging, 0, n);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Runs tokens through the model without sampling anything visible (tests: logits after each). */
  async feed(ids: number[], opts: { chunk?: number } = {}): Promise<Float32Array[]> {
    const chunk = Math.min(opts.chunk ?? this.chunk, this.chunk);
    const out: Float32Array[] = [];
    for (let at = 0; at < ids.length; at += chunk) {
      const part = ids.slice(at, at + chunk);
      const pos = this.cached.length;
      if (pos + part.length > this.maxCtx) throw new ContextFullError(`feed: ${pos + part.length} tokens exceed the context (${this.maxCtx})`);
      this.device.queue.writeBuffer(this.buf.ids, 0, new Uint32Array(part));
      this.kernels.sample.writeParams(this.sampleIo.params, GREEDY, 0, this.cfg.vocabSize, this.penaltyWindow);
      const { cmd } = this.encodeStep(pos, part.length, false, 0);
      this.device.queue.submit([cmd]);
      this.cached.push(...part);
      out.push(await this.readLogits());
    }
    return out;
  }

  destroy(): void {
    for (const l of this.linears) l.destroy();
    for (const l of this.fused) l.destroy();
    for (const b of this.owned) b.destroy();
    this.weights.destroy();
  }
}

/** Bytes of the decode hand-off's partial sums: the most any Wo or ffn_down dispatch writes. */
function handoffBytes(kernels: Kernels, weights: ModelWeights, dim: number): number {
  let bytes = 16;
  for (const w of weights.layers) {
    for (const lin of [w.wo, w.down]) bytes = Math.max(bytes, kernels.matvec(lin.format, lin.k, true).partialsBytes(dim));
  }
  return bytes;
}
