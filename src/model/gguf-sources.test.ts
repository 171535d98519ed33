import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelSourceError } from '../common/errors.ts';
import { readGGUF } from './gguf.ts';
import { blobSource, bufferSource, httpSource } from './gguf-sources.ts';
import { fixtureFile } from './test-gguf.ts';
import { fileSource, readGGUFFile } from './source-node.ts';

const file = fixtureFile({ vocabSize: 1000 });

/** Serves `bytes` like a static file server; `mode` breaks it in the ways real servers do. */
function fakeFetch(bytes: Uint8Array, mode: 'ok' | 'no-range' | 'hidden-content-range' | 'wrong-start' = 'ok') {
  const log: string[] = [];
  const f = async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    if (init?.method === 'HEAD') {
      log.push('HEAD');
      return new Response(null, { status: 200, headers: { 'content-length': String(bytes.length) } });
    }
    const range = headers.get('range');
    log.push(range ?? 'GET');
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    if (!m || mode === 'no-range') {
      return new Response(bytes.slice(), { status: 200, headers: { 'content-length': String(bytes.length) } });
    }
    let start = Number(m[1]);
    const end = Math.min(Number(m[2]), bytes.length - 1);
    if (mode === 'wrong-start' && start > 0) start += 1;
    const h: Record<string, string> = {};
    if (mode !== 'hidden-content-range') h['content-range'] = `bytes ${start}-${end}/${bytes.length}`;
    return new Response(bytes.slice(start, end + 1), { status: 206, headers: h });
  };
  return { fetch: f as typeof fetch, log };
}

describe('byte sources', () => {
  it('bufferSource and blobSource read the same bytes', async () => {
    for (const src of [bufferSource(file), blobSource(new Blob([file as BlobPart]), 'x.gguf')]) {
      expect(src.size).toBe(file.length);
      expect(await src.read(100, 50)).toEqual(file.subarray(100, 150));
      expect((await readGGUF(src)).tensors.length).toBe(15);
    }
  });

  it('httpSource: size from Content-Range; the first response serves the header window', async () => {
    const { fetch, log } = fakeFetch(file);
    const src = await httpSource('https://example.test/m.gguf', { fetch, probeBytes: 4096 });
    expect(src.size).toBe(file.length);
    const f = await readGGUF(src, { initialWindow: 4096 });
    expect(f.tensors.length).toBe(15);
    // Probe, then only the ranges the header needs beyond it (no HEAD, never the data section).
    expect(log[0]).toBe('bytes=0-4095');
    expect(log).not.toContain('HEAD');
    const last = log.at(-1)!.match(/-(\d+)$/)!;
    expect(Number(last[1])).toBeLessThan(f.dataOffset * 2);
    expect(await src.read(f.dataOffset, 10)).toEqual(file.subarray(f.dataOffset, f.dataOffset + 10));
  });

  it('httpSource: falls back to HEAD when Content-Range is not exposed (CORS)', async () => {
    const { fetch, log } = fakeFetch(file, 'hidden-content-range');
    const src = await httpSource('u', { fetch, probeBytes: 100 });
    expect(src.size).toBe(file.length);
    expect(log).toEqual(['bytes=0-99', 'HEAD']);
  });

  it('httpSource: a server that ignores Range is an error for big files, fine for small ones', async () => {
    const { fetch } = fakeFetch(file, 'no-range');
    const small = await httpSource('u', { fetch });
    expect((await readGGUF(small)).tensors.length).toBe(15);
    const e = await httpSource('https://x/m.gguf', { fetch, maxWholeFileBytes: 1000 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ModelSourceError);
    expect((e as Error).message).toMatch(/does not honour HTTP Range requests/);
  });

  it('httpSource: a range answered from the wrong place is an error, not wrong bytes', async () => {
    const { fetch } = fakeFetch(file, 'wrong-start');
    const src = await httpSource('u', { fetch, probeBytes: 64 });
    await expect(src.read(1000, 10)).rejects.toThrow(/asked for bytes 1000-1009 of \d+, got 1001-/);
  });

  it('httpSource: HTTP errors carry the status', async () => {
    const f = (async () => new Response('nope', { status: 404, statusText: 'Not Found' })) as typeof fetch;
    const e = await httpSource('https://x/missing.gguf', { fetch: f }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ModelSourceError);
    expect((e as ModelSourceError).status).toBe(404);
    expect((e as Error).message).toBe('https://x/missing.gguf: HTTP 404 Not Found');
  });

  describe('against a real HTTP server', () => {
    let url = '';
    let ranges = 0;
    const server = createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m) {
        res.writeHead(200, { 'content-length': file.length }).end(Buffer.from(file));
        return;
      }
      ranges++;
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), file.length - 1);
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${file.length}`, 'content-length': end - start + 1 });
      res.end(Buffer.from(file.subarray(start, end + 1)));
    });
    beforeAll(async () => {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m.gguf`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('parses through fetch with Range requests', async () => {
      const f = await readGGUF(await httpSource(url, { probeBytes: 1024 }), { initialWindow: 1024 });
      expect(f.tensors.length).toBe(15);
      expect(ranges).toBeGreaterThan(1);
    });
  });

  it('fileSource and readGGUFFile read a file on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gguf-'));
    try {
      const path = join(dir, 'm.gguf');
      await writeFile(path, file);
      const src = await fileSource(path);
      expect(src.name).toBe('m.gguf');
      expect(await src.read(file.length - 5, 5)).toEqual(file.subarray(file.length - 5));
      await src.close();
      const f = await readGGUFFile(path);
      expect(f.fileSize).toBe(file.length);
      expect(f.tensors.length).toBe(15);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
