/**
 * The engine's sampler on the GPU (src/kernels/sample.ts): it reads the logits a step leaves, writes
 * the chosen id where the next decode step's embedding reads it (`nextId`, so the id never goes
 * through the CPU), and a small result record (id and top logprobs) that the CPU reads back: the
 * one readback per token. Two staging buffers take the records in turn, so step t+1 can copy its
 * record while step t's is mapped.
 */
import type { SampleBinding, SampleIo, SampleKernel, SampleSettings } from '../kernels/sample.ts';
import { historyInit, parseResult } from '../kernels/sample.ts';

/** One generated token: its id and the [id, logprob] of the likeliest tokens, best first. */
export interface GeneratedToken {
  id: number;
  /** After the repetition penalty and the temperature. */
  top: [number, number][];
}

export class Sampler {
  private readonly io: SampleIo;
  private readonly binding: SampleBinding;
  private readonly staging: [GPUBuffer, GPUBuffer];
  private readonly owned: GPUBuffer[];

  constructor(
    private readonly device: GPUDevice,
    private readonly kernel: SampleKernel,
    logits: GPUBuffer,
    private readonly vocab: number,
    /** Recent tokens the repetition penalty looks at. */
    readonly penaltyWindow: number,
  ) {
    this.io = kernel.createIo(logits, penaltyWindow);
    const scratch = kernel.createScratch(vocab);
    this.binding = kernel.bind(this.io, scratch, vocab);
    const staging = (i: number) =>
      device.createBuffer({ label: `sample.staging${i}`, size: kernel.resultBytes(), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.staging = [staging(0), staging(1)];
    this.owned = [this.io.history, this.io.nextId, this.io.result, this.io.params, scratch.candidates, scratch.partials, scratch.zkeys, ...this.staging];
  }

  /** u32 [1]: the id the last sampling chose. */
  get nextId(): GPUBuffer {
    return this.io.nextId;
  }

  /** Starts a generation: the penalty's history holds the prompt's last tokens. */
  start(promptIds: readonly number[]): void {
    this.device.queue.writeBuffer(this.io.history, 0, historyInit(this.penaltyWindow, promptIds, 0));
  }

  /** Writes the settings of the draw at `step` (before the submit that samples it). */
  setStep(settings: SampleSettings, step: number): void {
    this.kernel.writeParams(this.io.params, settings, step, this.vocab, this.penaltyWindow);
  }

  /** The two sampling dispatches, then (outside the pass) the copy of the record into staging `slot`. */
  encode(pass: GPUComputePassEncoder): void {
    this.kernel.encode(pass, this.binding);
  }

  encodeReadback(enc: GPUCommandEncoder, slot: number, nTop: number): void {
    this.kernel.encodeReadback(enc, this.io, this.staging[slot], nTop);
  }

  /** Maps staging `slot` once its step has run and returns the token. */
  async read(slot: number, nTop: number): Promise<GeneratedToken> {
    const staging = this.staging[slot];
    const bytes = this.kernel.resultBytes(nTop);
    await staging.mapAsync(GPUMapMode.READ, 0, bytes);
    const r = parseResult(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    return { id: r.id, top: r.top.slice(0, nTop) };
  }

  /** Bytes of the GPU buffers it owns (staging included). */
  get bytes(): number {
    return this.owned.reduce((n, b) => n + b.size, 0);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}
