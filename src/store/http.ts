/** Small HTTP helpers for ranged downloads: header parsing and abortable waits. */

export interface ContentRange {
  start: number;
  /** Inclusive, as in the header. */
  end: number;
  total?: number;
}

const CONTENT_RANGE = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i;
const UNSATISFIED_RANGE = /^bytes\s+\*\/(\d+)$/i;

export function parseContentRange(h: string | null): ContentRange | undefined {
  const m = h ? CONTENT_RANGE.exec(h.trim()) : null;
  if (!m) return undefined;
  const r: ContentRange = { start: Number(m[1]), end: Number(m[2]) };
  if (m[3] !== '*') r.total = Number(m[3]);
  return r.end >= r.start ? r : undefined;
}

/** The total of a 416 answer's `Content-Range: bytes * /total`. */
export function unsatisfiedRangeTotal(h: string | null): number | undefined {
  const m = h ? UNSATISFIED_RANGE.exec(h.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

export function contentLength(headers: Headers): number | undefined {
  const h = headers.get('content-length');
  if (h === null || !/^\s*\d+\s*$/.test(h)) return undefined;
  return Number(h);
}

/** ETags compared for change detection: a weak and a strong tag with the same value are the same file. */
export function sameETag(a: string, b: string): boolean {
  const norm = (t: string) => t.trim().replace(/^W\//i, '');
  return norm(a) === norm(b);
}

/** Statuses worth retrying: the server or something in between is busy or broken for now. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599);
}

export function abortError(): DOMException {
  return new DOMException('The download was aborted', 'AbortError');
}

/** `p`, or `signal.reason` as soon as `signal` aborts. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason ?? abortError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? abortError());
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason ?? abortError());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Calls `fire` when `kick` has not been called for `ms` (0 or Infinity: never). */
export class Watchdog {
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    private readonly ms: number,
    private readonly fire: () => void,
  ) {}

  kick(): void {
    this.stop();
    if (this.ms > 0 && Number.isFinite(this.ms)) this.timer = setTimeout(this.fire, this.ms);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
