/**
 * Test helpers for the store. `FakeFileServer`: a `fetch` over an in-memory file that serves HTTP Range like a CDN, counts what
 * it sends, and misbehaves on request. Faults are queued one per request (`fail`) or stay on
 * (`always`). The body is pulled in `pieceBytes` pieces straight into the reader (no read-ahead),
 * so "cut after N bytes" means the client received exactly N bytes of that response.
 */

export type Fault =
  /** Answer with this status and a short text body. */
  | { kind: 'status'; status: number }
  /** Send N bytes of the body, then fail the stream with a network error. */
  | { kind: 'cut'; afterBytes: number }
  /** Send N bytes of the body, then end it cleanly (fewer bytes than announced). */
  | { kind: 'short'; afterBytes: number }
  /** Send N bytes (default 0), then nothing more until the request is aborted. */
  | { kind: 'stall'; afterBytes?: number }
  /** Answer a Range request with 200 and the whole file. */
  | { kind: 'ignore-range' }
  /** Announce this Content-Length, whatever is sent. */
  | { kind: 'content-length'; value: number }
  /** Omit Content-Range from 206 answers (a cross-origin server that does not expose it). */
  | { kind: 'hide-content-range' };

export interface ServedRequest {
  range: string | null;
  status: number;
  /** Body bytes actually handed to the client. */
  served: number;
}

const RANGE = /^bytes=(\d+)-(\d*)$/;

export class FakeFileServer {
  file: Uint8Array;
  etag: string | undefined;
  readonly requests: ServedRequest[] = [];
  private readonly queued: Fault[] = [];
  private readonly steady: Fault[] = [];

  constructor(
    file: Uint8Array,
    opts: { etag?: string; pieceBytes?: number } = {},
  ) {
    this.file = file;
    this.etag = opts.etag;
    this.pieceBytes = opts.pieceBytes ?? 4096;
  }

  private readonly pieceBytes: number;
  /** Called when a response starts stalling (a test can abort then). */
  onStall: (() => void) | undefined;

  /** Body bytes handed out over all requests. */
  get bytesServed(): number {
    return this.requests.reduce((s, r) => s + r.served, 0);
  }

  /** Apply `f` to the next request only (queued in order). */
  fail(...f: Fault[]): this {
    this.queued.push(...f);
    return this;
  }

  /** Apply `f` to every request from now on. */
  always(...f: Fault[]): this {
    this.steady.push(...f);
    return this;
  }

  clearFaults(): void {
    this.queued.length = 0;
    this.steady.length = 0;
  }

  /** The file changes on the server. */
  replace(file: Uint8Array, etag?: string): void {
    this.file = file;
    this.etag = etag;
  }

  readonly fetch: typeof fetch = async (_input, init) => {
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    const headers = new Headers(init?.headers);
    const range = headers.get('range');
    const faults = [...this.steady, ...(this.queued.length ? [this.queued.shift() as Fault] : [])];
    const has = <K extends Fault['kind']>(k: K) => faults.find((f): f is Extract<Fault, { kind: K }> => f.kind === k);
    const log: ServedRequest = { range, status: 0, served: 0 };
    this.requests.push(log);

    const st = has('status');
    if (st) {
      log.status = st.status;
      return new Response(`fake error ${st.status}`, { status: st.status });
    }
    const size = this.file.length;
    const h = new Headers({ 'accept-ranges': 'bytes' });
    if (this.etag) h.set('etag', this.etag);
    let start = 0;
    let end = size - 1;
    let status = 200;
    const m = range ? RANGE.exec(range) : null;
    if (m && !has('ignore-range')) {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (start >= size || end < start) {
        log.status = 416;
        return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
      }
      status = 206;
      if (!has('hide-content-range')) h.set('content-range', `bytes ${start}-${end}/${size}`);
    }
    log.status = status;
    const body = this.file.slice(start, end + 1);
    h.set('content-length', String(has('content-length')?.value ?? body.length));
    return new Response(this.stream(body, faults, log, signal), { status, headers: h });
  };

  private stream(body: Uint8Array, faults: Fault[], log: ServedRequest, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
    const cut = faults.find((f) => f.kind === 'cut')?.afterBytes;
    const short = faults.find((f) => f.kind === 'short')?.afterBytes;
    const stall = faults.find((f) => f.kind === 'stall');
    const stallAt = stall ? (stall.afterBytes ?? 0) : undefined;
    let pos = 0;
    let wake: (() => void) | undefined;
    return new ReadableStream<Uint8Array>(
      {
        start(c) {
          signal?.addEventListener('abort', () => {
            c.error(signal.reason);
            wake?.();
          }, { once: true });
        },
        pull: async (c) => {
          if (signal?.aborted) return;
          const limit = Math.min(body.length, cut ?? Infinity, short ?? Infinity, stallAt ?? Infinity);
          if (pos >= limit) {
            if (stallAt !== undefined && pos >= stallAt) {
              this.onStall?.();
              return new Promise<void>((r) => (wake = r));
            }
            if (cut !== undefined && pos >= cut) return c.error(new TypeError('network error (fake cut)'));
            return c.close();
          }
          const n = Math.min(this.pieceBytes, limit - pos);
          c.enqueue(body.slice(pos, pos + n));
          pos += n;
          log.served += n;
        },
        cancel() {
          wake?.();
        },
      },
      { highWaterMark: 0 },
    );
  }
}

/** A fake `navigator.storage` with a fixed quota; `persist` answers `persistAnswer`. */
export function fakeStorage(quota: number, usage = 0, persistAnswer = true) {
  const calls = { estimate: 0, persist: 0 };
  return {
    calls,
    estimate: async () => {
      calls.estimate++;
      return { quota, usage };
    },
    persist: async () => {
      calls.persist++;
      return persistAnswer;
    },
  };
}

/** -1 when the arrays are equal, else the first differing index (deep equality on big arrays is slow). */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
