/**
 * Downloads a GGUF into the weight store (DESIGN.md section 5): streamed, cut into chunks as the
 * bytes arrive (one chunk in memory at a time), resumable with HTTP Range from the first missing
 * chunk, also after a page reload, since all state is in IndexedDB.
 *
 *   1. checking: the manifest of an earlier attempt, the quota, persistence
 *   2. downloading: one Range request per run of missing chunks, retried with backoff
 *   3. verifying: the header read back from the store must parse and be a model we run
 *   4. the manifest is marked complete, last
 *
 * Anything unexpected from the server (a changed file, a 200 to a range request) restarts the
 * download cleanly from byte 0; nothing is ever appended at an offset we cannot vouch for.
 */

import { CorruptChunkError, DownloadError, InvalidRequestError, ModelFormatError } from '../common/errors.ts';
import { formatBytes } from '../common/format.ts';
import { checkHeader } from './header-check.ts';
import {
  Watchdog,
  abortError,
  abortable,
  contentLength,
  isTransientStatus,
  parseContentRange,
  sameETag,
  sleep,
  unsatisfiedRangeTotal,
} from './http.ts';
import { withModelLock } from './lock.ts';
import { chunkCount, chunkSpan, missingRuns, storedByteCount } from './manifest.ts';
import type { HeaderSummary, ModelManifest, ModelSource } from './manifest.ts';
import { ProgressMeter } from './progress.ts';
import type { ProgressCallback, StorePhase } from './progress.ts';
import { checkQuota, platformStorage, requestPersistence } from './quota.ts';
import type { StorageLike } from './quota.ts';
import type { WeightStore } from './weight-store.ts';

export interface DownloadOptions {
  /** Store key; the same id resumes an earlier attempt. */
  id: string;
  url: string;
  store: WeightStore;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Chunk size of a new download (default 16 MiB); a resume keeps the stored one. */
  chunkBytes?: number;
  displayName?: string;
  /** Exact size when known in advance (registry), so the quota check can run before any request. */
  expectedBytes?: number;
  onProgress?: ProgressCallback;
  /** Consecutive failed attempts without storing a chunk before giving up (default 5). */
  maxAttempts?: number;
  /** First backoff delay; it doubles per failure, up to 30 s (default 1000 ms). */
  retryDelayMs?: number;
  /** A response that sends nothing for this long counts as a dropped connection (default 60 s). */
  idleTimeoutMs?: number;
  /** `navigator.storage` by default; null: skip the quota check and persistence. */
  storage?: StorageLike | null;
  now?: () => number;
}

export interface DownloadResult {
  manifest: ModelManifest;
  /** The browser's answer to `navigator.storage.persist()` (undefined: not available). */
  persisted: boolean | undefined;
  /** Body bytes received in this call. */
  bytesFetched: number;
  /** Why the download started over from byte 0, once per restart. */
  restarts: string[];
  /** The model was already complete; nothing was fetched. */
  alreadyComplete: boolean;
}

/** A run of missing chunks to request: bytes [start, endExcl); `open` asks for `bytes=start-`. */
interface Want {
  start: number;
  endExcl: number | undefined;
  open: boolean;
}

const MAX_RESTARTS = 3;
/** The early header check stops trying past this many contiguous bytes (the reader's own limit). */
const HEADER_CHECK_LIMIT = 64 << 20;

export function downloadModel(o: DownloadOptions): Promise<DownloadResult> {
  return withModelLock(o.store.name, o.id, () => downloadLocked(o));
}

/** downloadModel for a caller that already holds the model's lock. */
export function downloadLocked(o: DownloadOptions): Promise<DownloadResult> {
  return new Download(o).run();
}

function describeSource(s: ModelSource): string {
  return s.kind === 'url' ? s.url : `the local file "${s.name}"`;
}

class Download {
  private readonly f: typeof fetch;
  private readonly storage: StorageLike | undefined;
  private readonly meter: ProgressMeter;
  private readonly maxAttempts: number;
  private m: ModelManifest | undefined;
  private stored = 0;
  private failures = 0;
  private headerChecked = false;
  /** Contiguous chunks stored when the early header check last ran. */
  private headerPrefixTried = 0;
  private persisted: boolean | undefined;
  private bytesFetched = 0;
  private readonly restarts: string[] = [];

  constructor(private readonly o: DownloadOptions) {
    this.f = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.storage = o.storage === null ? undefined : (o.storage ?? platformStorage());
    this.meter = new ProgressMeter(o.onProgress, o.now);
    this.maxAttempts = Math.max(1, o.maxAttempts ?? 5);
  }

  async run(): Promise<DownloadResult> {
    const { id, url, store } = this.o;
    this.throwIfAborted();

    // 1. An earlier attempt, the quota, persistence.
    const m = await store.getManifest(id);
    this.meter.update('checking', m ? storedByteCount(m) : 0, m?.source.size ?? this.o.expectedBytes, true);
    if (m?.complete) {
      if (m.source.kind === 'url' && m.source.url === url) return this.result(m, true);
      throw new InvalidRequestError(`Model "${id}" is already stored, from ${describeSource(m.source)}: delete it first to download ${url} in its place.`);
    }
    if (m && (m.source.kind !== 'url' || m.source.url !== url)) {
      await this.restart(`the unfinished download stored as "${id}" came from ${describeSource(m.source)}`);
    } else {
      this.setManifest(m);
    }
    const size = this.m?.source.size ?? this.o.expectedBytes;
    if (size !== undefined) await checkQuota(this.storage, size - this.stored, `"${this.name()}"`);
    this.persisted = await requestPersistence(this.storage);

    // 2-4. Fetch the missing runs until none is left; then check the header and mark complete.
    for (;;) {
      this.throwIfAborted();
      const want = this.nextWant();
      if (!want) {
        const done = await this.finish();
        if (done) return this.result(done, false);
        continue;
      }
      try {
        await this.fetchRun(want);
      } catch (e) {
        await this.onFailure(e);
      }
    }
  }

  private name(): string {
    return this.o.displayName ?? this.o.id;
  }

  private setManifest(m: ModelManifest | undefined): void {
    this.m = m;
    this.stored = m ? storedByteCount(m) : 0;
  }

  private nextWant(): Want | undefined {
    const m = this.m;
    if (!m) return { start: 0, endExcl: undefined, open: true };
    const run = missingRuns(m)[0];
    if (!run) return undefined;
    const start = chunkSpan(m, run.first).start;
    const endExcl = chunkSpan(m, run.last).end;
    return { start, endExcl, open: endExcl === m.source.size };
  }

  private async fetchRun(want: Want): Promise<void> {
    const { url } = this.o;
    // One controller per request: the caller's signal and the stall watchdog both abort it.
    const ac = new AbortController();
    const onOuterAbort = () => ac.abort(this.o.signal?.reason ?? abortError());
    this.o.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const watchdog = new Watchdog(this.o.idleTimeoutMs ?? 60_000, () =>
      ac.abort(new DownloadError(`No data arrived from ${url} for ${((this.o.idleTimeoutMs ?? 60_000) / 1000).toFixed(0)} s`, { url, reason: 'stalled', retryable: true })),
    );
    const range = want.open ? `bytes=${want.start}-` : `bytes=${want.start}-${(want.endExcl as number) - 1}`;
    let res: Response | undefined;
    try {
      watchdog.kick();
      try {
        res = await abortable(this.f(url, { headers: { Range: range }, signal: ac.signal, cache: 'no-store' }), ac.signal);
      } catch (e) {
        throw this.networkError(e, ac.signal);
      }
      watchdog.stop();
      if (res.status === 206) await this.onPartial(res, want, ac.signal, watchdog);
      else if (res.status === 200) await this.onWhole(res, ac.signal, watchdog);
      else await this.onStatus(res);
    } finally {
      watchdog.stop();
      this.o.signal?.removeEventListener('abort', onOuterAbort);
      // A body nobody started reading (a check failed first) would hold the connection open.
      if (res?.body && !res.body.locked) res.body.cancel().catch(() => {});
    }
  }

  /** 206: check the range and the file's identity, then stream the range into chunks. */
  private async onPartial(res: Response, want: Want, signal: AbortSignal, watchdog: Watchdog): Promise<void> {
    const cr = parseContentRange(res.headers.get('content-range'));
    const len = contentLength(res.headers);
    const etag = res.headers.get('etag') ?? undefined;
    let start = want.start;
    let endExcl: number;
    let total: number | undefined;
    if (cr) {
      start = cr.start;
      endExcl = cr.end + 1;
      total = cr.total ?? this.m?.source.size;
    } else {
      // A cross-origin server may not expose Content-Range; Content-Length is always readable.
      if (len === undefined) throw await this.reject(res, 'bad-length', 'answered a range request without Content-Range or Content-Length');
      endExcl = start + len;
      total = this.m?.source.size ?? (want.open ? endExcl : undefined);
    }
    if (total === undefined) throw await this.reject(res, 'bad-range', 'did not say the size of the file');

    const changed = this.changedReason(total, etag);
    if (changed) {
      await res.body?.cancel().catch(() => {});
      return this.restart(changed);
    }
    const asked = want.open ? `${want.start}-` : `${want.start}-${(want.endExcl as number) - 1}`;
    if (start !== want.start || endExcl > total || (want.endExcl !== undefined && endExcl > want.endExcl)) {
      throw await this.reject(res, 'bad-range', `answered a request for bytes ${asked} with bytes ${start}-${endExcl - 1} of ${total}`);
    }
    if (len !== undefined && len !== endExcl - start) {
      throw await this.reject(res, 'bad-length', `sent Content-Length ${len} for the ${endExcl - start} bytes ${start}-${endExcl - 1}`);
    }
    if (!this.m) await this.begin(total, etag);
    await this.pump(res, start, endExcl, signal, watchdog);
  }

  /** 200: the whole file from byte 0. A Range request answered so means a clean restart. */
  private async onWhole(res: Response, signal: AbortSignal, watchdog: Watchdog): Promise<void> {
    const total = contentLength(res.headers) ?? this.m?.source.size ?? this.o.expectedBytes;
    if (total === undefined) throw await this.reject(res, 'bad-length', 'did not say the size of the file (no Content-Length)');
    if (total === 0) throw await this.reject(res, 'bad-length', 'sent an empty file');
    const etag = res.headers.get('etag') ?? undefined;
    const why =
      this.m && this.m.chunks.length > 0
        ? (this.changedReason(total, etag) ?? 'the server ignored the Range request and sent the whole file')
        : undefined;
    await this.begin(total, etag, why);
    await this.pump(res, 0, total, signal, watchdog);
  }

  private async onStatus(res: Response): Promise<void> {
    const { status } = res;
    if (status === 416 && this.m) {
      // Our range starts past the end: the file on the server got shorter.
      const total = unsatisfiedRangeTotal(res.headers.get('content-range'));
      await res.body?.cancel().catch(() => {});
      return this.restart(`the file on the server is now ${total === undefined ? 'shorter' : `${total} bytes`} (was ${this.m?.source.size} bytes)`);
    }
    const what =
      status === 404 || status === 410
        ? 'The model file was not found at this address'
        : status === 401 || status === 403
          ? 'The server refused access to the model file'
          : isTransientStatus(status)
            ? 'The server could not send the model file right now'
            : 'The server answered with an error';
    await res.body?.cancel().catch(() => {});
    throw new DownloadError(`${what} (HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}): ${this.o.url}`, {
      url: this.o.url,
      reason: 'http-status',
      status,
      retryable: isTransientStatus(status),
    });
  }

  /** Why the file on the server is not the one the stored chunks came from, if it is not. */
  private changedReason(total: number, etag: string | undefined): string | undefined {
    const src = this.m?.source;
    if (!src || src.kind !== 'url') return undefined;
    if (src.size !== total) return `the file on the server changed size (${src.size} -> ${total} bytes)`;
    if (src.etag && etag && !sameETag(src.etag, etag)) return `the file on the server changed (ETag ${src.etag} -> ${etag})`;
    return undefined;
  }

  /** A fresh manifest for `total` bytes (deleting any stored chunks), after the quota check. */
  private async begin(total: number, etag: string | undefined, why?: string): Promise<void> {
    if (why) this.noteRestart(why);
    await checkQuota(this.storage, total - this.stored, `"${this.name()}"`);
    const source: ModelSource = { kind: 'url', url: this.o.url, size: total };
    if (etag) source.etag = etag;
    const m = await this.o.store.beginModel({
      id: this.o.id,
      source,
      chunkBytes: this.m?.chunkBytes ?? this.o.chunkBytes,
      displayName: this.o.displayName,
    });
    this.setManifest(m);
    this.headerChecked = false;
    this.headerPrefixTried = 0;
  }

  /** Forget everything stored; the next request starts from byte 0. */
  private async restart(why: string): Promise<void> {
    this.noteRestart(why);
    await this.o.store.deleteModel(this.o.id);
    this.setManifest(undefined);
  }

  private noteRestart(why: string): void {
    this.restarts.push(why);
    if (this.restarts.length > MAX_RESTARTS) {
      throw new DownloadError(`Gave up downloading ${this.o.url}: it had to start over ${this.restarts.length} times (last: ${why})`, {
        url: this.o.url,
        reason: 'changed',
      });
    }
    this.meter.update('downloading', 0, undefined, true, `Starting the download over: ${why}.`);
  }

  /** Streams body bytes [start, endExcl) of the file into chunks; `start` is a chunk boundary. */
  private async pump(res: Response, start: number, endExcl: number, signal: AbortSignal, watchdog: Watchdog): Promise<void> {
    const { url, store, id } = this.o;
    const m = this.m as ModelManifest;
    if (!res.body) throw new DownloadError(`The server sent no body for ${url}`, { url, reason: 'short-body', status: res.status, retryable: true });
    const reader = res.body.getReader();
    let index = Math.floor(start / m.chunkBytes);
    let pos = start;
    let buf = new Uint8Array(chunkSpan(m, index).end - pos);
    let fill = 0;
    let chunksStored = 0;
    try {
      for (;;) {
        watchdog.kick();
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await abortable(reader.read(), signal);
        } catch (e) {
          throw this.networkError(e, signal);
        }
        watchdog.stop();
        if (r.done) break;
        let v = r.value;
        this.bytesFetched += v.length;
        while (v.length > 0) {
          if (pos >= endExcl) {
            // Its length was a lie, so its bytes are suspect: keep none of them.
            await store.deleteModel(id);
            this.setManifest(undefined);
            throw new DownloadError(`The server sent more than the ${endExcl - start} bytes it announced for ${url}`, {
              url,
              reason: 'long-body',
              status: res.status,
            });
          }
          const n = Math.min(v.length, buf.length - fill, endExcl - pos);
          buf.set(v.subarray(0, n), fill);
          fill += n;
          pos += n;
          v = v.subarray(n);
          if (fill === buf.length) {
            const rec = await store.putChunk(id, index, buf);
            m.chunks.push(rec);
            this.stored += rec.bytes;
            this.failures = 0;
            chunksStored++;
            await this.earlyHeaderCheck();
            index++;
            fill = 0;
            if (pos < m.source.size) buf = new Uint8Array(chunkSpan(m, index).end - pos);
          }
        }
        this.progress('downloading', false, fill);
      }
      if (pos < endExcl) {
        throw new DownloadError(`The connection to ${url} closed after ${pos - start} of ${endExcl - start} bytes`, {
          url,
          reason: 'short-body',
          status: res.status,
          retryable: true,
        });
      }
      if (chunksStored === 0) {
        // A server that caps ranges below one chunk: we would ask for the same bytes forever.
        throw new DownloadError(`The server sent only ${endExcl - start} bytes of ${url}, less than one ${m.chunkBytes}-byte chunk`, {
          url,
          reason: 'short-body',
          status: res.status,
          retryable: true,
        });
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      throw e;
    }
  }

  /**
   * As soon as the first chunks are in, parse the header from the store, so a file that is not a
   * GGUF we can run (an HTML error page, another architecture) fails now, not after 2 GB.
   */
  private async earlyHeaderCheck(): Promise<void> {
    const m = this.m as ModelManifest;
    if (this.headerChecked) return;
    // Only when the stored prefix grew, and while it is short: past that, the final check decides.
    const have = new Set(m.chunks.map((c) => c.index));
    let prefix = 0;
    while (have.has(prefix)) prefix++;
    if (prefix <= this.headerPrefixTried || prefix * m.chunkBytes > HEADER_CHECK_LIMIT || prefix === chunkCount(m)) return;
    this.headerPrefixTried = prefix;
    const src = await this.o.store.storeSource(this.o.id, { requireComplete: false });
    try {
      await checkHeader(src);
      this.headerChecked = true;
    } catch (e) {
      if (e instanceof CorruptChunkError) {
        // Missing: the header is not all here yet. Mismatch: fetch that chunk again later.
        if (e.problem === 'mismatch') await this.forget(e.index);
        return;
      }
      if (e instanceof ModelFormatError) await this.o.store.deleteModel(this.o.id);
      throw e;
    }
  }

  /** The header, read back from the store, decides; then the manifest is marked complete. */
  private async finish(): Promise<ModelManifest | undefined> {
    const { store, id } = this.o;
    const m = this.m as ModelManifest;
    this.progress('verifying', true);
    const src = await store.storeSource(id, { requireComplete: false });
    let header: HeaderSummary;
    try {
      header = (await checkHeader(src)).header;
    } catch (e) {
      if (e instanceof ModelFormatError) {
        await store.deleteModel(id);
        throw e;
      }
      if (e instanceof CorruptChunkError && ++this.failures < this.maxAttempts) {
        // A chunk did not survive the trip into IndexedDB: fetch it again.
        await this.forget(e.index);
        return undefined;
      }
      throw e;
    }
    const done = await store.markComplete(id, header);
    this.meter.update('verifying', m.source.size, m.source.size, true);
    return done;
  }

  /** Drops one chunk from the store and from our copy of the manifest (which `pump` may be filling). */
  private async forget(index: number): Promise<void> {
    const m = this.m as ModelManifest;
    await this.o.store.forgetChunks(this.o.id, [index]);
    const k = m.chunks.findIndex((c) => c.index === index);
    if (k >= 0) this.stored -= m.chunks.splice(k, 1)[0].bytes;
  }

  /** Retries transient failures with exponential backoff; rethrows everything else. */
  private async onFailure(e: unknown): Promise<void> {
    this.throwIfAborted();
    if (!(e instanceof DownloadError) || !e.retryable) throw e;
    this.failures++;
    const { url } = this.o;
    if (this.failures >= this.maxAttempts) {
      const kept = this.stored > 0 ? ` The ${formatBytes(this.stored)} already stored are kept; try again later to resume.` : '';
      throw new DownloadError(`${e.message} (gave up after ${this.failures} attempts).${kept}`, {
        url,
        reason: e.reason,
        status: e.status,
        retryable: true,
        cause: e,
      });
    }
    const base = this.o.retryDelayMs ?? 1000;
    const delay = Math.min(30_000, base * 2 ** (this.failures - 1)) * (0.75 + Math.random() * 0.5);
    this.meter.update('downloading', this.stored, this.m?.source.size, true, `${e.message}; retrying in ${Math.ceil(delay / 1000)} s`);
    await sleep(delay, this.o.signal);
  }

  /** A failed fetch or body read: the caller's abort as is, a stall, or a dropped connection. */
  private networkError(e: unknown, signal: AbortSignal): unknown {
    if (this.o.signal?.aborted) return this.o.signal.reason ?? abortError();
    if (signal.aborted && signal.reason instanceof DownloadError) return signal.reason;
    const msg = e instanceof Error ? e.message : String(e);
    return new DownloadError(`Network error while downloading ${this.o.url}: ${msg}`, { url: this.o.url, reason: 'network', retryable: true, cause: e });
  }

  private async reject(res: Response, reason: DownloadError['reason'], problem: string): Promise<DownloadError> {
    await res.body?.cancel().catch(() => {});
    return new DownloadError(`The server ${problem}: ${this.o.url}`, { url: this.o.url, reason, status: res.status });
  }

  private throwIfAborted(): void {
    if (this.o.signal?.aborted) throw this.o.signal.reason ?? abortError();
  }

  private progress(phase: StorePhase, force: boolean, extra = 0): void {
    this.meter.update(phase, this.stored + extra, this.m?.source.size ?? this.o.expectedBytes, force);
  }

  private result(manifest: ModelManifest, alreadyComplete: boolean): DownloadResult {
    return { manifest, persisted: this.persisted, bytesFetched: this.bytesFetched, restarts: this.restarts, alreadyComplete };
  }
}
