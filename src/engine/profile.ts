/**
 * GPU time per kernel kind, from `timestamp-query`.
 *
 * The engine records a step's dispatches into one or two compute passes. While a profiler is
 * attached, each dispatch instead gets a compute pass of its own whose `timestampWrites` mark
 * its start and end, so the difference is that one kernel's GPU time. Splitting passes does not
 * change results: WebGPU already orders dispatches within a pass as if separated by barriers.
 * It does add per-pass overhead, which is why the benchmark's tokens/s come from an
 * unprofiled run and this one only splits GPU time between kinds.
 *
 * The kind of a dispatch is its pipeline's label (`rmsnorm`, `matvec.q4_k`, `attention.decode`,
 * …), so a new kernel is profiled under its own name without edits here.
 * Queries accumulate over the profiled steps; `read()` resolves them all and maps one buffer.
 */

/** What the engine records a step's dispatches into: a real pass (counted) or a profiled one. */
export interface StepPass {
  readonly encoder: GPUComputePassEncoder;
  readonly dispatches: number;
  end(): void;
}

/** Begins a labelled pass of the step being recorded (a graph calls it for its body and its head). */
export type PassFactory = (label: string) => StepPass;

/** One profiled dispatch: its kind, the step it belongs to, and its GPU time. */
export interface DispatchTime {
  kind: string;
  /** The label of the graph's pass it was recorded in (`layers`, `head`). */
  pass: string;
  step: number;
  ns: number;
  /** Start, in ns after the first profiled dispatch's start. */
  at: number;
}

/** An unprofiled step's pass: counts the dispatches and forwards everything to the real pass. */
export class CountingPass implements StepPass {
  dispatches = 0;
  constructor(private readonly pass: GPUComputePassEncoder) {}
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

/** WebGPU caps a query set at 4096 queries: two per dispatch. */
const QUERIES_PER_SET = 4096;

export class DispatchProfiler {
  private readonly sets: GPUQuerySet[] = [];
  /** Per recorded dispatch: kind, step, query set, index of its start query. */
  private readonly records: { kind: string; pass: string; step: number; set: number; index: number }[] = [];
  private used = QUERIES_PER_SET;
  private steps = 0;
  private lastEncoder?: GPUCommandEncoder;

  /** `want(m)` says whether a step of m tokens is profiled (e.g. decode only: m === 1). */
  constructor(
    readonly device: GPUDevice,
    private readonly want: (m: number) => boolean = () => true,
  ) {
    if (!device.features.has('timestamp-query')) {
      throw new Error('DispatchProfiler: this device was created without the timestamp-query feature.');
    }
  }

  /** Dispatches recorded so far. */
  get count(): number {
    return this.records.length;
  }

  /**
   * Called by the engine for each pass it would begin in a step of m tokens. Returns undefined
   * for a step that is not profiled (the engine then records it normally). A step is one command
   * encoder, so the passes begun on the same encoder share a step number.
   */
  begin(enc: GPUCommandEncoder, label: string, m: number): StepPass | undefined {
    if (!this.want(m)) return undefined;
    if (enc !== this.lastEncoder) {
      this.lastEncoder = enc;
      this.steps++;
    }
    return new TimedPass(this, enc, label, this.steps - 1);
  }

  /** Steps profiled so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** Two fresh query slots (start, end) for one dispatch of `kind`. */
  slot(kind: string, step: number, pass = ''): { querySet: GPUQuerySet; beginningOfPassWriteIndex: number; endOfPassWriteIndex: number } {
    if (this.used + 2 > QUERIES_PER_SET) {
      this.sets.push(this.device.createQuerySet({ label: `profile.${this.sets.length}`, type: 'timestamp', count: QUERIES_PER_SET }));
      this.used = 0;
    }
    const index = this.used;
    this.used += 2;
    this.records.push({ kind, pass, step, set: this.sets.length - 1, index });
    return { querySet: this.sets[this.sets.length - 1], beginningOfPassWriteIndex: index, endOfPassWriteIndex: index + 1 };
  }

  /** Resolves every query into one buffer and reads it back once. Call after the steps finished. */
  async read(): Promise<DispatchTime[]> {
    if (this.records.length === 0) return [];
    const setBytes = QUERIES_PER_SET * 8; // 32 KiB: a multiple of the 256-byte resolve alignment
    const size = this.sets.length * setBytes;
    const resolve = this.device.createBuffer({ label: 'profile.resolve', size, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const staging = this.device.createBuffer({ label: 'profile.read', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const enc = this.device.createCommandEncoder({ label: 'profile.resolve' });
      this.sets.forEach((s, i) => {
        const n = i === this.sets.length - 1 ? this.used : QUERIES_PER_SET;
        enc.resolveQuerySet(s, 0, n, resolve, i * setBytes);
      });
      enc.copyBufferToBuffer(resolve, 0, staging, 0, size);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      const t0 = t[0];
      return this.records.map((r) => {
        const i = (r.set * setBytes) / 8 + r.index;
        // Timestamps may be clamped or reordered by the implementation: never report a negative time.
        const ns = t[i + 1] > t[i] ? Number(t[i + 1] - t[i]) : 0;
        return { kind: r.kind, pass: r.pass, step: r.step, ns, at: t[i] > t0 ? Number(t[i] - t0) : 0 };
      });
    } finally {
      resolve.destroy();
      staging.destroy();
    }
  }

  destroy(): void {
    for (const s of this.sets) s.destroy();
    this.sets.length = 0;
  }
}

/**
 * Looks like a compute pass encoder to the kernels: keeps the pipeline and bind groups set on
 * it, and turns each dispatch into a timed pass of its own on the command encoder.
 */
class TimedPass implements StepPass {
  dispatches = 0;
  private pipeline?: GPUComputePipeline;
  private readonly groups: (GPUBindGroup | undefined)[] = [];

  constructor(
    private readonly profiler: DispatchProfiler,
    private readonly enc: GPUCommandEncoder,
    private readonly label: string,
    private readonly step: number,
  ) {}

  setPipeline(p: GPUComputePipeline): void {
    this.pipeline = p;
  }

  setBindGroup(i: number, g: GPUBindGroup): void {
    this.groups[i] = g;
  }

  dispatchWorkgroups(x: number, y?: number, z?: number): void {
    if (!this.pipeline) throw new Error(`profile: dispatch in "${this.label}" before setPipeline`);
    const kind = this.pipeline.label || 'unlabelled';
    const pass = this.enc.beginComputePass({ label: `${this.label}:${kind}`, timestampWrites: this.profiler.slot(kind, this.step, this.label) });
    pass.setPipeline(this.pipeline);
    this.groups.forEach((g, i) => g && pass.setBindGroup(i, g));
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.dispatches++;
  }

  end(): void {}

  get encoder(): GPUComputePassEncoder {
    return this as unknown as GPUComputePassEncoder;
  }
}

export interface KindTime {
  kind: string;
  /** Dispatches of this kind per profiled step. */
  dispatchesPerStep: number;
  /** GPU milliseconds of this kind per profiled step. */
  msPerStep: number;
  /** Share of the profiled GPU time. */
  fraction: number;
}

/** Per-kind totals over `steps` steps, largest first. */
export function summarizeKinds(times: DispatchTime[], steps: number): KindTime[] {
  const by = new Map<string, { n: number; ns: number }>();
  let total = 0;
  for (const t of times) {
    const e = by.get(t.kind) ?? { n: 0, ns: 0 };
    e.n++;
    e.ns += t.ns;
    total += t.ns;
    by.set(t.kind, e);
  }
  return [...by]
    .map(([kind, e]) => ({ kind, dispatchesPerStep: e.n / steps, msPerStep: e.ns / 1e6 / steps, fraction: total > 0 ? e.ns / total : 0 }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
}
