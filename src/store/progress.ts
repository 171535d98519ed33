/**
 * Progress of getting a model in, as small value objects (the shape web-llm's users like: one
 * plain object per update, no methods), with a speed averaged over the last few seconds.
 */

export type StorePhase = 'checking' | 'downloading' | 'storing' | 'verifying';

export interface StoreProgress {
  phase: StorePhase;
  bytesDone: number;
  /** Undefined while the size is not yet known. */
  bytesTotal: number | undefined;
  /** Averaged over the last few seconds; 0 until there is a measurement. */
  bytesPerSecond: number;
  /** Undefined when there is no speed or total yet. */
  etaSeconds: number | undefined;
  /** Something the user should know, e.g. why a download restarted from the beginning. */
  message?: string;
}

export type ProgressCallback = (p: StoreProgress) => void;

const WINDOW_MS = 5000;

/** Turns (phase, bytesDone) updates into StoreProgress objects, at most one per `intervalMs`. */
export class ProgressMeter {
  private samples: { t: number; bytes: number }[] = [];
  private lastEmit = -Infinity;
  private phase: StorePhase | undefined;

  constructor(
    private readonly emit: ProgressCallback | undefined,
    private readonly now: () => number = () => performance.now(),
    private readonly intervalMs = 100,
  ) {}

  /** `force` emits even within the interval (phase changes, the end, messages). */
  update(phase: StorePhase, bytesDone: number, bytesTotal: number | undefined, force = false, message?: string): void {
    if (!this.emit) return;
    const t = this.now();
    if (phase !== this.phase) {
      this.phase = phase;
      this.samples = [];
      force = true;
    }
    // A restart moves bytesDone backwards: the old samples no longer describe a speed.
    if (this.samples.length > 0 && bytesDone < this.samples[this.samples.length - 1].bytes) this.samples = [];
    this.samples.push({ t, bytes: bytesDone });
    while (this.samples.length > 2 && t - this.samples[0].t > WINDOW_MS) this.samples.shift();
    if (!force && message === undefined && t - this.lastEmit < this.intervalMs) return;
    this.lastEmit = t;

    const first = this.samples[0];
    const dt = (t - first.t) / 1000;
    const bytesPerSecond = dt > 0 ? (bytesDone - first.bytes) / dt : 0;
    const etaSeconds =
      bytesTotal !== undefined && bytesPerSecond > 0 ? Math.max(0, (bytesTotal - bytesDone) / bytesPerSecond) : undefined;
    const p: StoreProgress = { phase, bytesDone, bytesTotal, bytesPerSecond, etaSeconds };
    if (message !== undefined) p.message = message;
    this.emit(p);
  }
}
