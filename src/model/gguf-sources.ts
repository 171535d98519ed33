/**
 * ByteSource implementations for the browser and tests: in-memory bytes, a Blob/File, and an
 * HTTP URL read with Range requests. (The Node file source is in source-node.ts.)
 */

import { ModelSourceError } from '../common/errors.ts';
import type { ByteSource } from './gguf-types.ts';

/** Bytes already in memory. `read` returns views, not copies. */
export function bufferSource(bytes: Uint8Array, name?: string): ByteSource {
  return {
    size: bytes.length,
    name,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

/** A browser File (picked or dropped) or any Blob. */
export function blobSource(blob: Blob, name?: string): ByteSource {
  return {
    size: blob.size,
    name: name ?? (blob as Partial<File>).name,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

export interface HttpSourceOptions {
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Bytes asked for by the first request, kept to serve the header window (default 1 MiB). */
  probeBytes?: number;
  /**
   * A server that ignores Range sends the whole file; up to this many bytes (default 64 MiB)
   * we keep it in memory instead of failing, which is enough for test models.
   */
  maxWholeFileBytes?: number;
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

function parseContentRange(h: string | null): { start: number; end: number; total?: number } | undefined {
  const m = h ? CONTENT_RANGE.exec(h.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/**
 * Reads `url` with `Range: bytes=a-b` requests. The first request asks for the first
 * `probeBytes` bytes: its Content-Range gives the file size (a HEAD is the fallback when a
 * cross-origin server does not expose Content-Range) and its body serves the header window.
 */
export async function httpSource(url: string, opts: HttpSourceOptions = {}): Promise<ByteSource> {
  const f = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const probe = Math.max(1, opts.probeBytes ?? 1 << 20);
  const get = (start: number, end: number) =>
    f(url, { headers: { ...opts.headers, Range: `bytes=${start}-${end}` }, signal: opts.signal });

  const res = await get(0, probe - 1);
  if (res.status === 200) {
    const len = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(len) && len <= (opts.maxWholeFileBytes ?? 64 << 20)) {
      const whole = new Uint8Array(await res.arrayBuffer());
      return bufferSource(whole, url);
    }
    await res.body?.cancel();
    throw new ModelSourceError(
      `${url}: the server does not honour HTTP Range requests (it answered "Range: bytes=0-${probe - 1}" with the ` +
        `whole ${Number.isFinite(len) ? `${len}-byte ` : ''}file), so the model cannot be read in pieces`,
      200,
    );
  }
  if (res.status !== 206) {
    throw new ModelSourceError(`${url}: HTTP ${res.status} ${res.statusText}`.trim(), res.status);
  }
  let size = parseContentRange(res.headers.get('content-range'))?.total;
  const first = new Uint8Array(await res.arrayBuffer());
  if (size === undefined) {
    const head = await f(url, { method: 'HEAD', headers: opts.headers, signal: opts.signal });
    const len = Number(head.headers.get('content-length') ?? NaN);
    if (!head.ok || !Number.isFinite(len)) {
      throw new ModelSourceError(`${url}: cannot tell the file size (no Content-Range on the range response and no Content-Length on HEAD)`);
    }
    size = len;
  }
  if (first.length !== Math.min(probe, size)) {
    throw new ModelSourceError(`${url}: asked for ${Math.min(probe, size)} bytes at 0, got ${first.length}`);
  }
  const total = size;

  return {
    size: total,
    name: url,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (length === 0) return new Uint8Array(0);
      if (offset + length <= first.length) return first.slice(offset, offset + length);
      const r = await get(offset, offset + length - 1);
      if (r.status !== 206) {
        await r.body?.cancel();
        throw new ModelSourceError(`${url}: range ${offset}-${offset + length - 1} answered with HTTP ${r.status}`, r.status);
      }
      const cr = parseContentRange(r.headers.get('content-range'));
      if (cr && (cr.start !== offset || (cr.total !== undefined && cr.total !== total))) {
        await r.body?.cancel();
        throw new ModelSourceError(`${url}: asked for bytes ${offset}-${offset + length - 1} of ${total}, got ${cr.start}-${cr.end} of ${cr.total ?? '*'} (did the file change?)`);
      }
      const body = new Uint8Array(await r.arrayBuffer());
      if (body.length !== length) {
        throw new ModelSourceError(`${url}: asked for ${length} bytes at ${offset}, got ${body.length}`);
      }
      return body;
    },
  };
}
