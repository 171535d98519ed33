/**
 * The model store in real Chromium: IndexedDB, fetch with Range, WebCrypto, navigator.storage and
 * Web Locks as the browser has them. src/store is bundled with esbuild into a page served by a
 * small server here (same origin, loopback: a secure context), which can cut a response after N
 * bytes. The app's UI is not involved; it wires the store in through the worker.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, test } from '@playwright/test';
import { fixtureFile } from '../src/model/test-gguf.ts';
import { parseGGUF } from '../src/model/gguf.ts';
import type { createStore, set } from 'idb-keyval';
import type { readGGUF } from '../src/model/gguf.ts';
import type { downloadModel } from '../src/store/download.ts';
import type { importFile } from '../src/store/import.ts';
import type { repairModel } from '../src/store/repair.ts';
import type { WeightStore } from '../src/store/weight-store.ts';

/** What the bundle exposes as `window.PhiStore`. */
const ENTRY = `
export { WeightStore } from '../src/store/weight-store.ts';
export { downloadModel } from '../src/store/download.ts';
export { repairModel } from '../src/store/repair.ts';
export { importFile } from '../src/store/import.ts';
export { readGGUF } from '../src/model/gguf.ts';
export { createStore, set } from 'idb-keyval';
`;

declare global {
  interface Window {
    PhiStore: {
      WeightStore: typeof WeightStore;
      downloadModel: typeof downloadModel;
      repairModel: typeof repairModel;
      importFile: typeof importFile;
      readGGUF: typeof readGGUF;
      createStore: typeof createStore;
      set: typeof set;
    };
  }
}

const CB = 16384;
const file = fixtureFile({ seed: 5 });
const SIZE = file.length;

interface Served {
  range: string | undefined;
  status: number;
  served: number;
}

async function startServer() {
  const bundle = await build({
    stdin: { contents: ENTRY, resolveDir: dirname(fileURLToPath(import.meta.url)), loader: 'ts' },
    bundle: true,
    format: 'iife',
    globalName: 'PhiStore',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0].text;
  // cutAfter: the next response sends that many bytes and then stalls until dropConnection().
  // (Cutting right after writing them would be racy: Chromium discards bytes it received but the
  // page had not read yet when the connection fails, so what got stored would vary.)
  const open = new Set<ServerResponse>();
  const state = {
    requests: [] as Served[],
    cutAfter: undefined as number | undefined,
    dropConnection: () => {
      for (const r of open) r.socket?.destroy();
      open.clear();
    },
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script src="/store.js"></script>');
    if (path === '/store.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    if (path !== '/model.gguf') return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(Number(m[2]), SIZE - 1) : SIZE - 1;
    const log: Served = { range: req.headers.range, status: m ? 206 : 200, served: 0 };
    state.requests.push(log);
    const headers: Record<string, string | number> = { 'content-length': end - start + 1, etag: '"e2e-v1"', 'accept-ranges': 'bytes' };
    if (m) headers['content-range'] = `bytes ${start}-${end}/${SIZE}`;
    res.writeHead(log.status, headers);
    const body = file.subarray(start, end + 1);
    const cut = state.cutAfter;
    state.cutAfter = undefined;
    if (cut !== undefined && cut < body.length) {
      log.served = cut;
      open.add(res);
      res.write(body.subarray(0, cut));
      return;
    }
    log.served = body.length;
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('download, cut, reload, resume; the stored model parses to the same header', async ({ page }) => {
  const srv = await startServer();
  try {
    await page.goto(`${srv.origin}/`);
    srv.state.cutAfter = 40_000;
    type Outcome = { name: string; reason: string; stored: number };
    await page.evaluate(() => {
      const S = window.PhiStore;
      const store = new S.WeightStore({ name: 'e2e-a' });
      (window as unknown as { first: Promise<Outcome> }).first = S.downloadModel({ id: 'm', url: `${location.origin}/model.gguf`, store, chunkBytes: 16384, maxAttempts: 1, retryDelayMs: 0 }).then(
        () => ({ name: 'none', reason: '', stored: -1 }),
        async (e: { name: string; reason?: string }) => ({ name: e.name, reason: e.reason ?? '', stored: await store.storedBytes('m') }),
      );
    });
    // The 40,000 bytes sent hold two whole 16 KiB chunks: once both are stored, drop the connection.
    await expect.poll(() => page.evaluate(() => new window.PhiStore.WeightStore({ name: 'e2e-a' }).storedBytes('m')), { timeout: 30_000 }).toBe(2 * CB);
    srv.state.dropConnection();
    const first = await page.evaluate(() => (window as unknown as { first: Promise<Outcome> }).first);
    expect(first).toEqual({ name: 'DownloadError', reason: 'network', stored: 2 * CB });

    // A reload: nothing survives but IndexedDB.
    await page.reload();
    const second = await page.evaluate(async () => {
      const S = window.PhiStore;
      const store = new S.WeightStore({ name: 'e2e-a' });
      const r = await S.downloadModel({ id: 'm', url: `${location.origin}/model.gguf`, store, retryDelayMs: 0 });
      const file = await S.readGGUF(await store.storeSource('m'));
      const est = await navigator.storage.estimate();
      return {
        complete: r.manifest.complete,
        persisted: r.persisted,
        verify: await store.verify('m'),
        tensors: file.tensors.map((t) => t.name),
        dataOffset: file.dataOffset,
        usage: est.usage ?? 0,
      };
    });
    expect(srv.state.requests.slice(1)).toEqual([{ range: `bytes=${first.stored}-`, status: 206, served: SIZE - first.stored }]);
    expect(second.complete).toBe(true);
    expect(typeof second.persisted).toBe('boolean');
    expect(second.verify.ok).toBe(true);
    const original = await parseGGUF(file);
    expect(second.tensors).toEqual(original.tensors.map((t) => t.name));
    expect(second.dataOffset).toBe(original.dataOffset);
    expect(second.usage).toBeGreaterThan(0);
  } finally {
    await srv.close();
  }
});

test('a corrupted chunk is found and repaired with one exact Range request; a local file imports', async ({ page }) => {
  const srv = await startServer();
  try {
    await page.goto(`${srv.origin}/`);
    const r = await page.evaluate(async () => {
      const S = window.PhiStore;
      const store = new S.WeightStore({ name: 'e2e-b' });
      const url = `${location.origin}/model.gguf`;
      await S.downloadModel({ id: 'm', url, store, chunkBytes: 16384 });
      await S.set(['m', 3], new Uint8Array(16384), S.createStore('e2e-b-chunks', 'chunks'));
      const before = await store.verify('m');
      const src = await store.storeSource('m');
      const readErr = await src.read(0, src.size).then(() => null, (e: { name: string; index: number }) => ({ name: e.name, index: e.index }));
      const repair = await S.repairModel({ id: 'm', store });
      const after = await store.verify('m');

      const bytes = await (await fetch(url)).arrayBuffer();
      const imported = await S.importFile(new File([bytes], 'local.gguf'), store, undefined, { chunkBytes: 16384 });
      const models = (await store.listModels()).map((m) => [m.id, m.complete, m.source.kind]);
      return { before, readErr, repaired: repair.repaired, after, importedComplete: imported.manifest.complete, models };
    });
    expect(r.before).toMatchObject({ ok: false, corrupt: [3], missing: [] });
    expect(r.readErr).toEqual({ name: 'CorruptChunkError', index: 3 });
    expect(r.repaired).toEqual([3]);
    expect(r.after.ok).toBe(true);
    expect(srv.state.requests.map((q) => q.range)).toEqual(['bytes=0-', `bytes=${3 * CB}-${4 * CB - 1}`, undefined]);
    expect(srv.state.requests[1].served).toBe(CB);
    expect(r.importedComplete).toBe(true);
    expect(r.models).toEqual([['m', true, 'url'], [`file:local.gguf:${SIZE}`, true, 'file']]);
  } finally {
    await srv.close();
  }
});
