import common from '../../shaders/sample_common.wgsl?raw';
import partialPass from '../../shaders/sample_partial.wgsl?raw';
import finalPass from '../../shaders/sample_final.wgsl?raw';
import { createStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/**
 * Sampling on the GPU in two dispatches (shaders/sample_partial.wgsl, shaders/sample_final.wgsl).
 *
 * What is computed, in order:
 *  1. penalty: each distinct id among history[0, penaltyWindow) has its logit l replaced by
 *     l > 0 ? l / p : l * p (llama.cpp `penalty_repeat`); NaN counts as -inf.
 *  2. temperature: z = l / T; greedy (T = 0) takes the argmax of l, ties to the smallest id.
 *  3. top-k: the k best z (ties to smaller ids), k clamped to `cap` (256); 0 or >= vocab = off.
 *  4. top-p: the shortest prefix of those, best first, whose mass >= p (at least one token).
 *     The mass is normalized over the k survivors when top-k is on, and over the FULL vocab
 *     when it is off; then the candidates are capped at the best `cap`: if those hold less
 *     than p of the mass, all `cap` are kept (the rest of the nucleus cannot be drawn).
 *  5. draw: u = pcg(pcg(seed) ^ step) as 24 bits in [0, 1) (sample.ref.ts: sampleUniform);
 *     the first kept token whose cumulative mass exceeds u * (kept mass).
 *     With top-k off and top-p >= 1 there is no cap: the draw is an exact inverse CDF over the
 *     whole vocab in id order.
 * Unlike llama.cpp's default chain (top-k, top-p, then temperature), temperature comes first,
 * as in Hugging Face transformers; top-k does not care, top-p does.
 * Reported: the top nTop (id, log softmax(z)) over the full vocab, after penalty and
 * temperature (T = 1 when greedy), before top-k / top-p.
 *
 * Engine use (pipelines, buffers and bindings made once at load):
 *   const sampler = new SampleKernel(device);
 *   const io = sampler.createIo(logits, 64);       // history room for 64, nextId, result, params
 *   const binding = sampler.bind(io, sampler.createScratch(vocab), vocab);
 *   once per generation: device.queue.writeBuffer(io.history, 0, historyInit(64, promptIds, 0));
 *                        // the ring starts with the prompt's last ids (historyInit below)
 *   per token: sampler.writeParams(io.params, settings, step, vocab, 64);  // before the submit
 *              sampler.encode(pass, binding);   // after lm_head, same pass; 2 dispatches
 *              sampler.encodeReadback(encoder, io, staging, settings.nTop); parseResult(...)
 * `io.nextId` is bound directly as the next step's token input, and the history ring is
 * appended on the GPU (history[step % penaltyWindow] = id), so step t + 1 can be submitted
 * before step t's result is mapped.
 */

/** u32 words before the (id, logprob) pairs in the result record. */
export const RESULT_HEADER_WORDS = 4;
/** History slot value that counts as empty (any id >= vocab does). */
export const EMPTY_SLOT = 0xffffffff;

export interface SampleSettings {
  /** 0 = greedy (argmax, ties to the smallest id). */
  temperature: number;
  /** 0, or >= vocab, = off; otherwise clamped to the kernel's cap. */
  topK: number;
  /** Nucleus mass; >= 1 = off; <= 0 keeps one token. */
  topP: number;
  /** llama.cpp `penalty_repeat`: logit > 0 ? logit / p : logit * p; 1 = off. */
  repetitionPenalty: number;
  /** How many recent ids count (= ring slots in use, <= the history buffer's length); 0 = off. */
  penaltyWindow: number;
  /** u32; with the step it fixes the draw. */
  seed: number;
  /** Top logprobs to report, 0..cap. */
  nTop: number;
}

export const GREEDY: Readonly<SampleSettings> = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, penaltyWindow: 0, seed: 0, nTop: 0 };

export interface SampleResult {
  id: number;
  /** Tokens the draw was over: 1 greedy, vocab for the full draw, else the kept top-k/top-p prefix. */
  nKeep: number;
  /** The uniform draw in [0, 1) (0 when greedy). */
  u: number;
  /** Top logprobs of softmax(z), z = penalized logits / T (T = 1 when greedy), best first. */
  top: [id: number, logprob: number][];
}

/** Buffers the engine owns and binds: the kernel only reads `logits` and writes the rest. */
export interface SampleIo {
  /** f32 [vocab] */
  logits: GPUBuffer;
  /** u32 [historyLength]: slots [0, penaltyWindow) are the ring; see historyInit */
  history: GPUBuffer;
  /** u32 [>= 1]: the chosen id at offset 0 */
  nextId: GPUBuffer;
  /** u32 [4 + 2 cap]: id, nTop written, bits(u), nKeep, then (id, bits(logprob)) pairs */
  result: GPUBuffer;
  /** uniform, written per step by writeParams */
  params: GPUBuffer;
}

/** Per-vocab scratch between the two passes. */
export interface SampleScratch {
  candidates: GPUBuffer;
  partials: GPUBuffer;
  zkeys: GPUBuffer;
}

export interface SampleBinding {
  pass1: GPUBindGroup;
  pass2: GPUBindGroup;
  workgroups: number;
}

export interface SampleOptions {
  /**
   * Threads per workgroup in both passes: 64, 128 (default) or 256. 128 runs 2x (llvmpipe)
   * to 5x (SwiftShader) faster than 256 and halves thread 0's reduction loops on a GPU.
   */
  workgroupSize?: number;
  /** Candidate cap (max top-k, max nTop): 256 or 512. */
  cap?: number;
  /** Logits per pass-1 workgroup: a multiple of the workgroup size, in cap..8 x workgroup size. */
  chunk?: number;
}

const u32Max = 0xffffffff;

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= u32Max;
}

/** The sampler's two pipelines (see the top of this file). */
export class SampleKernel {
  static readonly uniforms = new UniformLayout([
    ['temperature', 'f32'],
    ['topK', 'u32'],
    ['topP', 'f32'],
    ['penalty', 'f32'],
    ['window', 'u32'],
    ['seed', 'u32'],
    ['step', 'u32'],
    ['vocab', 'u32'],
    ['nTop', 'u32'],
  ] as const);

  readonly cap: number;
  readonly chunk: number;
  readonly workgroupSize: number;
  /**
   * Largest vocab: 256 chunks (262144 at the default chunk; Phi-3 has 32064), which bounds
   * pass 2's single-workgroup scan of nWG * nc candidates.
   */
  readonly maxVocab: number;
  private readonly partialPass: ComputeKernel;
  private readonly finalPass: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    opts: SampleOptions = {},
  ) {
    const wg = (this.workgroupSize = opts.workgroupSize ?? 128);
    this.cap = opts.cap ?? 256;
    this.chunk = opts.chunk ?? 1024;
    if (![64, 128, 256].includes(wg)) throw new RangeError(`sample: workgroup size ${wg} must be 64, 128 or 256`);
    if (![256, 512].includes(this.cap) || this.cap > 8 * wg) throw new RangeError(`sample: cap ${this.cap} must be 256 or 512, <= 8 x workgroup size`);
    if (this.chunk % wg !== 0 || this.chunk < this.cap || this.chunk > 8 * wg) {
      throw new RangeError(`sample: chunk ${this.chunk} must be a multiple of ${wg} in ${this.cap}..${8 * wg}`);
    }
    this.maxVocab = 256 * this.chunk;
    const constants = { WG: this.workgroupSize, CHUNK: this.chunk, CAP: this.cap };
    this.partialPass = new ComputeKernel(device, {
      label: 'sample.partial',
      // logits, history, candidates, partials, zkeys, params
      bindings: ['read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage', 'uniform'],
      code: `${common}\n${partialPass}`,
      constants,
    });
    this.finalPass = new ComputeKernel(device, {
      label: 'sample.final',
      // partials, candidates, zkeys, history, nextId, result, params
      bindings: ['read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage', 'uniform'],
      code: `${common}\n${finalPass}`,
      constants,
    });
  }

  /** Pass-1 workgroups for a vocab (pass 2 is one workgroup). */
  workgroups(vocab: number): number {
    return Math.ceil(vocab / this.chunk);
  }

  /** Bytes of the result record holding nTop pairs. */
  resultBytes(nTop = this.cap): number {
    return (RESULT_HEADER_WORDS + 2 * nTop) * 4;
  }

  /** Packs and checks the per-step uniform. */
  packParams(s: SampleSettings, step: number, vocab: number, historyLength: number): ArrayBuffer {
    const bad = (what: string) => {
      throw new RangeError(`sample: ${what}`);
    };
    if (!(Number.isFinite(s.temperature) && s.temperature >= 0)) bad(`temperature ${s.temperature} must be finite and >= 0`);
    if (!isU32(s.topK)) bad(`topK ${s.topK} must be an integer >= 0`);
    if (Number.isNaN(s.topP)) bad('topP is NaN');
    if (!(Number.isFinite(s.repetitionPenalty) && s.repetitionPenalty > 0)) bad(`repetitionPenalty ${s.repetitionPenalty} must be finite and > 0`);
    if (!(Number.isInteger(s.penaltyWindow) && s.penaltyWindow >= 0 && s.penaltyWindow <= historyLength)) {
      bad(`penaltyWindow ${s.penaltyWindow} must be an integer in 0..${historyLength} (the history length)`);
    }
    if (!isU32(s.seed)) bad(`seed ${s.seed} must be a u32`);
    if (!(Number.isInteger(s.nTop) && s.nTop >= 0 && s.nTop <= this.cap)) bad(`nTop ${s.nTop} must be an integer in 0..${this.cap}`);
    if (!isU32(step)) bad(`step ${step} must be a u32`);
    if (!(Number.isInteger(vocab) && vocab >= 1 && vocab <= this.maxVocab)) bad(`vocab ${vocab} must be in 1..${this.maxVocab}`);
    return SampleKernel.uniforms.pack({
      temperature: s.temperature,
      topK: s.topK,
      topP: Math.min(Math.max(s.topP, 0), 1),
      penalty: s.repetitionPenalty,
      window: s.penaltyWindow,
      seed: s.seed,
      step,
      vocab,
      nTop: s.nTop,
    });
  }

  /** The per-step uniform, written by writeParams. */
  createParams(): GPUBuffer {
    return createUniform(this.device, SampleKernel.uniforms, 'sample.params');
  }

  /** Writes the per-step uniform (before the submit that samples step `step`). */
  writeParams(params: GPUBuffer, s: SampleSettings, step: number, vocab: number, historyLength: number): void {
    this.device.queue.writeBuffer(params, 0, this.packParams(s, step, vocab, historyLength));
  }

  /** history (ring of `historyLength` empty slots), nextId, result and params buffers. */
  createIo(logits: GPUBuffer, historyLength: number): SampleIo {
    if (!(Number.isInteger(historyLength) && historyLength >= 1)) throw new RangeError(`sample: history length ${historyLength} must be >= 1`);
    const history = createStorage(this.device, historyLength * 4, 'sample.history');
    this.device.queue.writeBuffer(history, 0, historyInit(historyLength, [], 0)); // every slot empty
    return {
      logits,
      history,
      nextId: createStorage(this.device, 4, 'sample.nextId'),
      result: createStorage(this.device, this.resultBytes(), 'sample.result'),
      params: this.createParams(),
    };
  }

  createScratch(vocab: number): SampleScratch {
    const nwg = this.workgroups(vocab);
    return {
      candidates: createStorage(this.device, nwg * this.cap * 8, 'sample.candidates'),
      partials: createStorage(this.device, nwg * 16, 'sample.partials'),
      zkeys: createStorage(this.device, vocab * 4, 'sample.zkeys'),
    };
  }

  /** Made once at load (or once per params buffer). */
  bind(io: SampleIo, scratch: SampleScratch, vocab: number): SampleBinding {
    if (!(Number.isInteger(vocab) && vocab >= 1 && vocab <= this.maxVocab)) throw new RangeError(`sample: vocab ${vocab} must be in 1..${this.maxVocab}`);
    if (io.logits.size < vocab * 4) throw new RangeError(`sample: logits buffer holds fewer than ${vocab} f32`);
    if (io.result.size < this.resultBytes()) throw new RangeError(`sample: result buffer smaller than ${this.resultBytes()} bytes`);
    const { candidates, partials, zkeys } = scratch;
    return {
      pass1: this.partialPass.bind(io.logits, io.history, candidates, partials, zkeys, io.params),
      pass2: this.finalPass.bind(partials, candidates, zkeys, io.history, io.nextId, io.result, io.params),
      workgroups: this.workgroups(vocab),
    };
  }

  /** Two dispatches; pass 2 reads pass 1's scratch (ordered within the pass). */
  encode(pass: GPUComputePassEncoder, b: SampleBinding): void {
    this.partialPass.dispatch(pass, b.pass1, b.workgroups);
    this.finalPass.dispatch(pass, b.pass2, 1);
  }

  /** Copies the result record (header + nTop pairs) into `staging` at `offset`, outside a pass. */
  encodeReadback(encoder: GPUCommandEncoder, io: SampleIo, staging: GPUBuffer, nTop: number, offset = 0): void {
    encoder.copyBufferToBuffer(io.result, 0, staging, offset, this.resultBytes(nTop));
  }
}

/** Decodes a result record (as copied by encodeReadback). */
export function parseResult(data: ArrayBuffer, byteOffset = 0): SampleResult {
  const view = new DataView(data, byteOffset);
  const n = view.getUint32(4, true);
  const top: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const at = (RESULT_HEADER_WORDS + 2 * i) * 4;
    top.push([view.getUint32(at, true), view.getFloat32(at + 4, true)]);
  }
  return { id: view.getUint32(0, true), nKeep: view.getUint32(12, true), u: view.getFloat32(8, true), top };
}

/**
 * Initial ring contents for a generation with penaltyWindow `length`: the last `length` of
 * `recent` (oldest first) placed so that the GPU's next append, history[step % length],
 * overwrites the oldest; other slots empty.
 */
export function historyInit(length: number, recent: readonly number[], step: number): Uint32Array<ArrayBuffer> {
  const ring = new Uint32Array(length).fill(EMPTY_SLOT);
  const n = Math.min(length, recent.length);
  for (let j = 0; j < n; j++) {
    const slot = (((step - 1 - j) % length) + length) % length;
    ring[slot] = recent[recent.length - 1 - j];
  }
  return ring;
}

export interface SampleRunStep {
  settings: SampleSettings;
  step: number;
}

export interface SampleRun {
  results: SampleResult[];
  /** nextId[0] after each step. */
  nextIds: number[];
  /** The history ring after the last step. */
  history: Uint32Array;
}

/**
 * One-off run for tests and the self-test: the steps in order over the same logits, the
 * history ring carried on the GPU from step to step. Not for the hot path (a params buffer
 * and bind groups per step; up to `batch` steps per submit).
 */
export async function runSample(
  kernel: SampleKernel,
  logits: Float32Array,
  steps: readonly SampleRunStep[],
  history: Uint32Array = new Uint32Array([EMPTY_SLOT]),
  batch = 128,
): Promise<SampleRun> {
  const { device } = kernel;
  const vocab = logits.length;
  const logitsBuf = createStorage(device, logits.byteLength, 'sample.logits');
  device.queue.writeBuffer(logitsBuf, 0, logits as Float32Array<ArrayBuffer>);
  const io = kernel.createIo(logitsBuf, history.length);
  device.queue.writeBuffer(io.history, 0, history as Uint32Array<ArrayBuffer>);
  const scratch = kernel.createScratch(vocab);
  const record = kernel.resultBytes();
  const out: SampleRun = { results: [], nextIds: [], history: new Uint32Array(0) };
  const owned: GPUBuffer[] = [logitsBuf, io.history, io.nextId, io.result, io.params, scratch.candidates, scratch.partials, scratch.zkeys];
  for (let at = 0; at < steps.length; at += batch) {
    const chunk = steps.slice(at, at + batch);
    const staging = device.createBuffer({ label: 'sample.read', size: chunk.length * (record + 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const params: GPUBuffer[] = [];
    const enc = device.createCommandEncoder({ label: 'sample.run' });
    chunk.forEach(({ settings, step }, i) => {
      const p = kernel.createParams();
      kernel.writeParams(p, settings, step, vocab, history.length);
      params.push(p);
      const pass = enc.beginComputePass();
      kernel.encode(pass, kernel.bind({ ...io, params: p }, scratch, vocab));
      pass.end();
      kernel.encodeReadback(enc, io, staging, kernel.cap, i * record);
      enc.copyBufferToBuffer(io.nextId, 0, staging, chunk.length * record + i * 4, 4);
    });
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const data = staging.getMappedRange().slice(0);
    staging.unmap();
    for (const b of [staging, ...params]) b.destroy();
    const ids = new Uint32Array(data, chunk.length * record, chunk.length);
    chunk.forEach((_, i) => {
      out.results.push(parseResult(data, i * record));
      out.nextIds.push(ids[i]);
    });
  }
  const staging = device.createBuffer({ label: 'sample.read.history', size: history.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder({ label: 'sample.history' });
  enc.copyBufferToBuffer(io.history, 0, staging, 0, history.byteLength);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  out.history = new Uint32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  for (const b of [staging, ...owned]) b.destroy();
  return out;
}
