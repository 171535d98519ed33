/**
 * The roofline reference: the fastest pure streaming read (src/kernels/stream-read.ts) this
 * device runs, over a sweep of launch configurations.
 *
 * One fixed configuration is not a reference: 64 workgroups leave most of a GPU with 100+ SMs
 * idle (so decode could measure above "the roofline"), and on CPU drivers the best count depends
 * on the host's cores. So the read is timed at every power-of-two workgroup count from 64 to
 * 8192 (capped by the device's dispatch limit and by the buffer: no more threads than 16-byte
 * words) in a few shapes: 256 threads with one vec4 load per iteration at a grid stride (the
 * original kernel); the same reading a contiguous block per workgroup (a CPU driver runs a
 * workgroup on one core: a block is read front to back, where a grid stride spreads one core's
 * loads over the whole buffer); 64 threads
 * (small workgroups: more of them resident per core); and 256 threads with four independent
 * loads per iteration (more loads in flight per thread). The best one is the
 * reference; the 64-workgroup original is kept beside it for comparison with older reports.
 * The sweep stops starting configurations after STREAM_SWEEP_BUDGET_MS and says how many it left.
 *
 * What one timed read covers: the decode step's weight bytes, laid out as the weights are (buffers
 * of at most the binding limit), read as many times in one submit as it takes to reach
 * STREAM_MIN_BYTES: a small model's weights stream in about a millisecond, less than the
 * submit-and-wait round trip (which put the tiny model's "bandwidth" anywhere from 0.8 to 7 GB/s
 * between runs). Repeated reads of a small model hit the CPU caches, as its decode steps do,
 * which read the same bytes token after token.
 */
import { StreamReadKernel } from '../kernels/stream-read.ts';

export const STREAM_MIN_BYTES = 256 * 2 ** 20;

/** Wall time after which a sweep starts no further configuration. */
export const STREAM_SWEEP_BUDGET_MS = 30_000;

/** A timed read this long is taken once in a sweep. */
const LONG_READ_MS = 1000;

/** `256x1`, `256x1 blocked`: a shape as the report names it. */
export function shapeName(s: StreamShape): string {
  return `${s.workgroupSize}x${s.vec4PerIteration}${s.blocked ? ' blocked' : ''}`;
}

export interface StreamShape {
  workgroupSize: number;
  /** vec4 loads per thread per iteration. */
  vec4PerIteration: number;
  /** Each workgroup reads a contiguous block (else the whole grid strides over the buffer). */
  blocked: boolean;
}

export interface StreamConfig extends StreamShape {
  workgroups: number;
}

export interface StreamTrial extends StreamConfig {
  GBps: number;
}

export interface StreamSweep {
  /** Bytes of one read of the buffers (the decode step's weight bytes, rounded up to 16). */
  bytesPerRead: number;
  /** Bytes one timed submit reads (whole reads, at least STREAM_MIN_BYTES). */
  bytesPerTrial: number;
  /** Timed submits per configuration (the fastest is kept). */
  runsPerTrial: number;
  workgroupsTried: number[];
  shapesTried: StreamShape[];
  trials: StreamTrial[];
  /** Configurations left out when the sweep reached its time budget. */
  notTried: number;
  best: StreamTrial;
  /** Wall time of the whole sweep, compiles included. */
  sweepMs: number;
}

/** The original reference: 64 workgroups of 256 threads, one load per iteration. */
export const LEGACY_STREAM: StreamConfig = { workgroups: 64, workgroupSize: 256, vec4PerIteration: 1, blocked: false };

export const STREAM_SHAPES: readonly StreamShape[] = [
  { workgroupSize: 256, vec4PerIteration: 1, blocked: false },
  { workgroupSize: 256, vec4PerIteration: 1, blocked: true },
  { workgroupSize: 64, vec4PerIteration: 1, blocked: false },
  { workgroupSize: 256, vec4PerIteration: 4, blocked: false },
];

/**
 * Powers of two from `min` to `max`, capped by the device's workgroups per dimension and so that
 * every thread has a word to read (`words` 16-byte words); `min` is always included.
 */
export function sweepWorkgroupCounts(maxPerDimension: number, workgroupSize: number, words: number, min = 64, max = 8192): number[] {
  const cap = Math.min(max, maxPerDimension, Math.max(min, Math.floor(words / workgroupSize)));
  const out: number[] = [];
  for (let n = min; n <= cap; n *= 2) out.push(n);
  return out.length ? out : [Math.min(min, maxPerDimension)];
}

/** The fastest trial; a tie goes to the earlier one (fewer workgroups, the first shape). */
export function bestTrial(trials: readonly StreamTrial[]): StreamTrial {
  let best: StreamTrial | undefined;
  for (const t of trials) if (Number.isFinite(t.GBps) && t.GBps > 0 && (!best || t.GBps > best.GBps)) best = t;
  if (!best) throw new Error('stream sweep: no trial measured a bandwidth');
  return best;
}

/** The buffers and kernels of the streaming read, kept for a sweep and the interleaved runs after it. */
export class StreamBench {
  readonly bytesPerRead: number;
  readonly reps: number;
  private readonly buffers: GPUBuffer[] = [];
  private readonly kernels = new Map<string, { kernel: StreamReadKernel; partials: GPUBuffer }>();
  private readonly groups = new Map<string, GPUBindGroup[]>();
  private touched = false;

  constructor(
    readonly device: GPUDevice,
    bytes: number,
    minBytes = STREAM_MIN_BYTES,
  ) {
    const part = Math.min(device.limits.maxStorageBufferBindingSize, 128 * 2 ** 20) & ~15;
    try {
      for (let left = bytes; left > 0; left -= part) {
        this.buffers.push(device.createBuffer({ label: 'bench.stream', size: Math.max(16, Math.min(part, Math.ceil(left / 16) * 16)), usage: GPUBufferUsage.STORAGE }));
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
    this.bytesPerRead = this.buffers.reduce((s, b) => s + b.size, 0);
    this.reps = Math.max(1, Math.ceil(minBytes / this.bytesPerRead));
  }

  /** 16-byte words of the largest buffer (what one dispatch reads). */
  get words(): number {
    return Math.max(...this.buffers.map((b) => b.size / 16));
  }

  private bound(c: StreamConfig): { kernel: StreamReadKernel; groups: GPUBindGroup[] } {
    const shapeKey = shapeName(c);
    let k = this.kernels.get(shapeKey);
    if (!k) {
      const kernel = new StreamReadKernel(this.device, c.workgroupSize, c.workgroups, c.vec4PerIteration, c.blocked);
      // partials for the most threads a default sweep dispatches; remade below for more
      k = { kernel, partials: kernel.createPartials(Math.max(c.workgroups, Math.min(8192, this.device.limits.maxComputeWorkgroupsPerDimension))) };
      this.kernels.set(shapeKey, k);
    }
    const key = `${shapeKey}:${c.workgroups}`;
    let groups = this.groups.get(key);
    if (!groups) {
      if (k.partials.size < c.workgroups * c.workgroupSize * 4) {
        k.partials.destroy();
        k.partials = k.kernel.createPartials(c.workgroups);
        // bind groups of this shape read the old buffer
        for (const [g] of this.groups) if (g.startsWith(`${shapeKey}:`)) this.groups.delete(g);
      }
      const kk = k;
      groups = this.buffers.map((b) => kk.kernel.bind(b, kk.partials, c.workgroups));
      this.groups.set(key, groups);
    }
    return { kernel: k.kernel, groups };
  }

  /** Milliseconds of one submit reading the buffers `reps` times in configuration `c`. */
  async time(c: StreamConfig): Promise<number> {
    const { kernel, groups } = this.bound(c);
    const enc = this.device.createCommandEncoder({ label: 'bench.stream' });
    const pass = enc.beginComputePass();
    for (let r = 0; r < this.reps; r++) for (const g of groups) kernel.encode(pass, g, c.workgroups);
    pass.end();
    const cmd = enc.finish();
    const t0 = performance.now();
    this.device.queue.submit([cmd]);
    await this.device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  }

  /** GB/s of a read that took `ms`. */
  gbps(ms: number): number {
    return (this.reps * this.bytesPerRead) / (ms / 1000) / 1e9;
  }

  /**
   * Touches the buffers once, untimed (a driver may commit their memory at first use). A shape's
   * pipeline is compiled when it is first bound, before time() starts its clock.
   */
  async warm(c: StreamConfig): Promise<void> {
    if (!this.touched) await this.time(c);
    this.touched = true;
  }

  /**
   * Times every configuration `runs` times (the fastest run counts: the sweep asks what the
   * device can do, and a slower run is interference) and returns the trials and the best.
   * Counts go up in the outer loop, every shape at each: a sweep stopped by `budgetMs` (on a CPU
   * driver a large model's read takes a good part of a second) has tried the small counts in
   * every shape, and says how many configurations it left out.
   */
  async sweep(opts: { shapes?: readonly StreamShape[]; maxWorkgroups?: number; runs?: number; budgetMs?: number; onTrial?: (t: StreamTrial) => void } = {}): Promise<StreamSweep> {
    const t0 = performance.now();
    const shapes = (opts.shapes ?? STREAM_SHAPES).map(({ workgroupSize, vec4PerIteration, blocked }) => ({ workgroupSize, vec4PerIteration, blocked }));
    const runs = Math.max(1, opts.runs ?? 2);
    const budget = opts.budgetMs ?? STREAM_SWEEP_BUDGET_MS;
    const plan = shapes.map((shape) => sweepWorkgroupCounts(this.device.limits.maxComputeWorkgroupsPerDimension, shape.workgroupSize, this.words, 64, opts.maxWorkgroups ?? 8192));
    const configs: StreamConfig[] = [];
    for (let i = 0; i < Math.max(...plan.map((p) => p.length)); i++) {
      shapes.forEach((shape, j) => {
        if (i < plan[j].length) configs.push({ ...shape, workgroups: plan[j][i] });
      });
    }
    const trials: StreamTrial[] = [];
    for (const c of configs) {
      // the first configuration always runs: a sweep must measure something
      if (trials.length > 0 && performance.now() - t0 > budget) break;
      await this.warm(c);
      // a read of a second or more is not dominated by the submit's noise: it is not repeated
      let ms = Infinity;
      for (let i = 0; i < runs; i++) {
        ms = Math.min(ms, await this.time(c));
        if (ms >= LONG_READ_MS) break;
      }
      const t = { ...c, GBps: this.gbps(ms) };
      trials.push(t);
      opts.onTrial?.(t);
    }
    return {
      bytesPerRead: this.bytesPerRead,
      bytesPerTrial: this.bytesPerRead * this.reps,
      runsPerTrial: runs,
      workgroupsTried: [...new Set(trials.map((t) => t.workgroups))].sort((a, b) => a - b),
      shapesTried: shapes,
      trials,
      notTried: configs.length - trials.length,
      best: bestTrial(trials),
      sweepMs: performance.now() - t0,
    };
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    for (const k of this.kernels.values()) k.partials.destroy();
    this.kernels.clear();
    this.groups.clear();
  }
}
