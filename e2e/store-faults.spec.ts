/**
 * Installing a model through the app's client (`window.phi3` -> engine worker -> src/store) from a
 * server that misbehaves. Each fault must end either in a complete model whose stored bytes are
 * the served file byte for byte, or in a specific error with nothing marked ready; a resumed
 * download must not fetch stored chunks again (the server logs every byte it sends).
 *
 * The worker uses the store's defaults: 16 MiB chunks, 5 attempts with a 1 s backoff doubling
 * each time, a 60 s stall watchdog. The model is tiny q8_0 (19.6 MB): two chunks, the second
 * 2.79 MB. A cut is staged as a response that stops after 17 MB and is dropped once chunk 0 is
 * stored (see waitStored), so exactly chunk 0 survives it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type Fault, type ModelServer } from './model-server.ts';
import type { ChatEngine } from '../src/client/openai.ts';
import type { InstallSource, LoadRequest, StoredModel } from '../src/worker/protocol.ts';

type Win = { phi3: ChatEngine; pendingInstall?: Promise<unknown> };


const NAME = 'tiny-q8_0.gguf';
const CHUNK = 16 * 1024 * 1024;
const CUT = 17_000_000;
let path = '';
let size = 0;
let sha256 = '';
let server: ModelServer;

test.beforeAll(async () => {
  path = await ensureModel({ preset: 'tiny', mix: 'q8_0', seed: 1 });
  const bytes = readFileSync(path);
  size = bytes.length;
  sha256 = createHash('sha256').update(bytes).digest('hex');
  expect(size).toBeGreaterThan(CUT);
  expect(size).toBeLessThan(2 * CHUNK);
});

test.beforeEach(async () => {
  server = await startModelServer({ [NAME]: path });
});
test.afterEach(async () => {
  const info = test.info();
  if (info.status !== info.expectedStatus) await info.attach('requests.json', { body: JSON.stringify(server.requests, null, 1), contentType: 'application/json' });
  await server?.close();
});

async function ready(page: Page) {
  await page.goto('/');
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
}

interface Outcome {
  model?: StoredModel;
  error?: { name: string; message: string };
  /** Progress messages (retries, restarts). */
  messages: string[];
}

/** Starts an install in the page without waiting for it; `settled` gives its outcome. */
function startInstall(page: Page, source: InstallSource & { kind: 'url' }): Promise<void> {
  return page.evaluate((s) => {
    const w = window as unknown as Win;
    const messages: string[] = [];
    w.pendingInstall = w.phi3.install(s, (p) => void (p.message && messages.push(p.message))).then(
      (model) => ({ model, messages }),
      (e: Error) => ({ error: { name: e.name, message: e.message }, messages }),
    );
  }, source);
}

function settled(page: Page): Promise<Outcome> {
  return page.evaluate(() => (window as unknown as Win).pendingInstall as Promise<Outcome>);
}

async function install(page: Page, source: InstallSource & { kind: 'url' }): Promise<Outcome> {
  await startInstall(page, source);
  return settled(page);
}

/**
 * Waits until the model from `url` has `bytes` stored. A cut test drops the connection only
 * then: Chromium errors a body stream as soon as the connection fails, discarding bytes it had
 * received but the page had not read yet, so "cut after N bytes" alone does not say what the
 * store got.
 */
async function waitStored(page: Page, url: string, bytes: number): Promise<void> {
  await expect.poll(async () => (await models(page)).find((m) => m.url === url)?.storedBytes, { timeout: 60_000 }).toBe(bytes);
}

/**
 * Starts an install of `url` whose first response stalls after CUT bytes (`then`: faults for the
 * requests after it) and waits until chunk 0 is stored: where every resume test starts.
 */
async function startCutInstall(page: Page, url: string, ...then: Fault[]): Promise<void> {
  server.fail({ kind: 'stall', afterBytes: CUT }, ...then);
  await startInstall(page, { kind: 'url', url });
  await waitStored(page, url, CHUNK);
}

function models(page: Page): Promise<StoredModel[]> {
  return page.evaluate(() => (window as unknown as Win).phi3.listModels());
}

/** The weight store's chunk database, read directly (names from src/store/weight-store.ts). */
const CHUNK_DB = 'phi3-chat-chunks';

/** Keys of every stored chunk; never creates the database (that would break idb-keyval's upgrade). */
function chunkKeys(page: Page): Promise<[string, number][]> {
  return page.evaluate(async (dbName) => {
    if (!(await indexedDB.databases()).some((d) => d.name === dbName)) return [];
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open(dbName);
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    try {
      if (!db.objectStoreNames.contains('chunks')) return [];
      return await new Promise<[string, number][]>((res, rej) => {
        const r = db.transaction('chunks').objectStore('chunks').getAllKeys();
        r.onsuccess = () => res(r.result as [string, number][]);
        r.onerror = () => rej(r.error);
      });
    } finally {
      db.close();
    }
  }, CHUNK_DB);
}

/** No trace of any model in the store: no manifest, no chunk. */
async function expectNothingStored(page: Page): Promise<void> {
  expect(await models(page)).toEqual([]);
  expect(await chunkKeys(page)).toEqual([]);
}

/** SHA-256 of the model's stored chunks concatenated in order, straight from IndexedDB. */
function storedSha256(page: Page, id: string): Promise<{ sha256: string; bytes: number; chunks: number }> {
  return page.evaluate(
    async ({ dbName, modelId }) => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(dbName);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const vals = await new Promise<Uint8Array[]>((res, rej) => {
        const r = db.transaction('chunks').objectStore('chunks').getAll(IDBKeyRange.bound([modelId, 0], [modelId, Infinity]));
        r.onsuccess = () => res(r.result as Uint8Array[]);
        r.onerror = () => rej(r.error);
      });
      db.close();
      const all = new Uint8Array(vals.reduce((s, v) => s + v.length, 0));
      let at = 0;
      for (const v of vals) {
        all.set(v, at);
        at += v.length;
      }
      const h = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
      return { sha256: [...h].map((b) => b.toString(16).padStart(2, '0')).join(''), bytes: all.length, chunks: vals.length };
    },
    { dbName: CHUNK_DB, modelId: id },
  );
}

/** The install succeeded, and what is stored is the served file, byte for byte. */
async function expectComplete(page: Page, o: Outcome): Promise<StoredModel> {
  expect(o.error).toBeUndefined();
  const m = o.model as StoredModel;
  expect(m).toMatchObject({ complete: true, bytes: size, storedBytes: size });
  expect(await storedSha256(page, m.id)).toEqual({ sha256, bytes: size, chunks: 2 });
  return m;
}

/** A greedy reply from a loaded model. */
function reply(page: Page, req: LoadRequest): Promise<string> {
  return page.evaluate(async (r) => {
    const phi3 = (window as unknown as Win).phi3;
    await phi3.load(r);
    const c = await phi3.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me about printing presses.' }], max_tokens: 12, temperature: 0 });
    return c.choices[0].message.content;
  }, req);
}

const requests = () => server.requests.map(({ range, status, served, faults }) => ({ range, status, served, faults }));

test('a cut connection is retried from the first missing chunk; stored bytes are not fetched again', async ({ page }) => {
  test.setTimeout(180_000);
  await ready(page);
  const url = server.url(NAME);
  await startCutInstall(page, url);
  server.dropConnections();
  const o = await settled(page);
  await expectComplete(page, o);
  expect(requests()).toEqual([
    { range: 'bytes=0-', status: 206, served: CUT, faults: ['stall'] },
    { range: `bytes=${CHUNK}-`, status: 206, served: size - CHUNK, faults: [] },
  ]);
  expect(o.messages.some((m) => /^Network error while downloading .*; retrying in [12] s$/.test(m))).toBe(true);
});

test('a download cut by a page reload resumes in the new page; the resumed copy loads and chats', async ({ page }) => {
  test.setTimeout(300_000);
  await ready(page);
  const url = server.url(NAME);
  await startCutInstall(page, url);
  expect((await models(page)).map((m) => [m.url, m.complete])).toEqual([[url, false]]);

  // The reload ends the worker, and with it the connection and the install.
  await page.reload();
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
  const o = await install(page, { kind: 'url', url });
  const m = await expectComplete(page, o);
  expect(requests()).toEqual([
    { range: 'bytes=0-', status: 206, served: CUT, faults: ['stall'] },
    { range: `bytes=${CHUNK}-`, status: 206, served: size - CHUNK, faults: [] },
  ]);

  // The stored bytes are the file's (expectComplete), so the reply is the clean copy's; what is
  // left to show is that the resumed copy loads from IndexedDB and runs.
  expect((await reply(page, { kind: 'stored', id: m.id, contextLength: 256 })).length).toBeGreaterThan(0);
});

test('HTTP 500s: retried with backoff, then a clear error that keeps the stored chunks; a later install resumes', async ({ page }) => {
  test.setTimeout(180_000);
  await ready(page);
  const url = server.url(NAME);
  const e500 = { kind: 'status', status: 500 } as const;
  await startCutInstall(page, url, e500, e500, e500, e500, e500);
  server.dropConnections();
  const failed = await settled(page);
  expect(failed.error?.name).toBe('DownloadError');
  expect(failed.error?.message).toBe(
    `The server could not send the model file right now (HTTP 500 Internal Server Error): ${url} (gave up after 5 attempts). ` +
      'The 16.8 MB already stored are kept; try again later to resume.',
  );
  // The cut counts as the first failure; then 500s until five in a row without a new chunk.
  expect(requests().map((r) => r.status)).toEqual([206, 500, 500, 500, 500]);
  expect((await models(page)).map((m) => [m.url, m.complete, m.storedBytes])).toEqual([[url, false, CHUNK]]);

  server.clearFaults();
  server.requests.length = 0;
  server.fail({ kind: 'status', status: 503 });
  const o = await install(page, { kind: 'url', url });
  await expectComplete(page, o);
  expect(requests()).toEqual([
    { range: `bytes=${CHUNK}-`, status: 503, served: 0, faults: ['status'] },
    { range: `bytes=${CHUNK}-`, status: 206, served: size - CHUNK, faults: [] },
  ]);
});

test('a stalled response is dropped by the watchdog and the download resumes after the stored chunk', async ({ page }) => {
  // The worker's watchdog waits 60 s of silence: the real setting, so this test takes a minute.
  test.setTimeout(240_000);
  await ready(page);
  server.fail({ kind: 'stall', afterBytes: CUT });
  const o = await install(page, { kind: 'url', url: server.url(NAME) });
  await expectComplete(page, o);
  expect(requests()).toEqual([
    { range: 'bytes=0-', status: 206, served: CUT, faults: ['stall'] },
    { range: `bytes=${CHUNK}-`, status: 206, served: size - CHUNK, faults: [] },
  ]);
  expect(o.messages.some((m) => /^No data arrived from .* for 60 s; retrying in [12] s$/.test(m))).toBe(true);
});

test('a server that ignores Range: the resume starts over cleanly from byte 0 and says why', async ({ page }) => {
  test.setTimeout(180_000);
  await ready(page);
  const url = server.url(NAME);
  server.always({ kind: 'ignore-range' });
  await startCutInstall(page, url);
  server.dropConnections();
  const o = await settled(page);
  await expectComplete(page, o);
  // A 200 is a fine answer to bytes=0-; to bytes=CHUNK- it means starting over.
  expect(requests()).toEqual([
    { range: 'bytes=0-', status: 200, served: CUT, faults: ['ignore-range', 'stall'] },
    { range: `bytes=${CHUNK}-`, status: 200, served: size, faults: ['ignore-range'] },
  ]);
  expect(o.messages).toContain('Starting the download over: the server ignored the Range request and sent the whole file.');
});

test('404: a specific error after one request, and nothing stored', async ({ page }) => {
  await ready(page);
  const url = server.url('missing.gguf');
  const o = await install(page, { kind: 'url', url });
  expect(o.error).toEqual({ name: 'DownloadError', message: `The model file was not found at this address (HTTP 404 Not Found): ${url}` });
  expect(requests()).toEqual([{ range: 'bytes=0-', status: 404, served: 0, faults: [] }]);
  await expectNothingStored(page);
});

test('a wrong Content-Length: a specific error, nothing marked ready, and a clean install afterwards resumes', async ({ page }) => {
  test.setTimeout(180_000);
  await ready(page);
  const url = server.url(NAME);
  // On the first response: nothing stored at all.
  server.fail({ kind: 'content-length', delta: 100 });
  const first = await install(page, { kind: 'url', url });
  expect(first.error).toEqual({ name: 'DownloadError', message: `The server sent Content-Length ${size + 100} for the ${size} bytes 0-${size - 1}: ${url}` });
  await expectNothingStored(page);

  // On a resume: the stored chunk stays, the model is not ready.
  await startCutInstall(page, url, { kind: 'content-length', delta: -100 });
  server.dropConnections();
  const second = await settled(page);
  const rest = size - CHUNK;
  expect(second.error).toEqual({ name: 'DownloadError', message: `The server sent Content-Length ${rest - 100} for the ${rest} bytes ${CHUNK}-${size - 1}: ${url}` });
  expect((await models(page)).map((m) => [m.url, m.complete, m.storedBytes])).toEqual([[url, false, CHUNK]]);

  server.requests.length = 0;
  await expectComplete(page, await install(page, { kind: 'url', url }));
  expect(requests()).toEqual([{ range: `bytes=${CHUNK}-`, status: 206, served: rest, faults: [] }]);
});

test('a quota smaller than the model: the clear message, and nothing stored', async ({ page }) => {
  await ready(page);
  // CDP's Storage.overrideQuotaForOrigin would be the natural tool, but in this Chromium (156) it
  // changes only CDP's own Storage.getUsageAndQuota: navigator.storage.estimate() still reports
  // the real quota and IndexedDB writes past it succeed. So the worker's estimate() is patched to
  // report a quota smaller than the model (usage stays the real one).
  const quota = 8_000_000;
  // The engine worker exists once window.phi3 does, but Playwright may list it a moment later.
  await expect.poll(() => page.workers().length).toBeGreaterThan(0);
  const workers = page.workers();
  for (const w of workers) {
    await w.evaluate((q) => {
      const real = StorageManager.prototype.estimate;
      StorageManager.prototype.estimate = async function (this: StorageManager) {
        return { ...(await real.call(this)), quota: q };
      };
    }, quota);
  }
  const url = server.url(NAME);
  const need = `Not enough storage for "${NAME}": it needs 19.6 MB (${size} bytes) more, but the browser allows this site only `;
  const advice = 'Free some disk space or delete another stored model, then try again.';

  // Size known in advance (a registry entry): refused before any request.
  const known = await install(page, { kind: 'url', url, expectedBytes: size });
  expect(known.error?.name).toBe('QuotaExceededError');
  expect(known.error?.message.startsWith(need)).toBe(true);
  expect(known.error?.message.endsWith(advice)).toBe(true);
  expect(server.requests).toEqual([]);

  // Size from the server's answer: refused on its headers, before a chunk is stored.
  const unknown = await install(page, { kind: 'url', url });
  expect(unknown.error?.name).toBe('QuotaExceededError');
  expect(unknown.error?.message.startsWith(need)).toBe(true);
  expect(server.requests.length).toBe(1);
  await expectNothingStored(page);
});

test('a chunk corrupted in IndexedDB is found when the model loads and repaired: only that chunk is fetched again', async ({ page }) => {
  test.setTimeout(300_000);
  await ready(page);
  const url = server.url(NAME);
  const m = await expectComplete(page, await install(page, { kind: 'url', url }));
  await page.evaluate(
    async ({ dbName, id }) => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(dbName);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const os = () => db.transaction('chunks', 'readwrite').objectStore('chunks');
      const chunk = await new Promise<Uint8Array>((res) => {
        const r = os().get([id, 1]);
        r.onsuccess = () => res(r.result as Uint8Array);
      });
      chunk[1000] ^= 0xff;
      await new Promise((res) => (os().put(chunk, [id, 1]).onsuccess = res));
      db.close();
    },
    { dbName: CHUNK_DB, id: m.id },
  );
  server.requests.length = 0;
  server.bytesServed = 0;
  const messages = await page.evaluate(async (id) => {
    const seen: string[] = [];
    await (window as unknown as Win).phi3.load({ kind: 'stored', id, contextLength: 256 }, (p) => void (p.message && seen.push(p.message)));
    return seen;
  }, m.id);
  expect(messages).toContain('Chunk 1 of the stored copy is damaged: checking every chunk and downloading the damaged ones again.');
  // Exactly chunk 1 (the file's tail after the first 16 MiB) was fetched again, in one request.
  // (The last run of chunks is asked for open-ended: `bytes=<start>-`.)
  expect(requests()).toEqual([{ range: `bytes=${CHUNK}-`, status: 206, served: size - CHUNK, faults: [] }]);
  expect(await storedSha256(page, m.id)).toEqual({ sha256, bytes: size, chunks: 2 });
  // The repaired model is loaded and answers.
  const text = await page.evaluate(async () => {
    const c = await (window as unknown as Win).phi3.chat.completions.create({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, temperature: 0 });
    return c.choices[0].message.content;
  });
  expect(text.length).toBeGreaterThan(0);
});

test('a local file imports, loads and chats with the network off', async ({ page, context }) => {
  test.setTimeout(240_000);
  await ready(page);
  await page.evaluate(() => {
    const input = document.createElement('input');
    input.type = 'file';
    input.id = 'e2e-import';
    document.body.append(input);
  });
  await page.setInputFiles('#e2e-import', path);
  await context.setOffline(true);
  try {
    // The emulation really cuts the page off: the model server is up, yet unreachable.
    const reach = await page.evaluate((u) => fetch(u, { cache: 'no-store' }).then(() => 'reached', () => 'unreachable'), server.url(NAME));
    expect(reach).toBe('unreachable');
    await server.close();
    const r = await page.evaluate(async () => {
      const file = (document.getElementById('e2e-import') as HTMLInputElement).files?.[0] as File;
      const model = await (window as unknown as Win).phi3.install({ kind: 'file', file });
      return { model, list: await (window as unknown as Win).phi3.listModels() };
    });
    expect(r.model).toMatchObject({ id: `file:${basename(path)}:${size}`, complete: true, source: 'file', storedBytes: size });
    expect(r.list.map((m) => m.id)).toEqual([r.model.id]);
    expect(await storedSha256(page, r.model.id)).toEqual({ sha256, bytes: size, chunks: 2 });
    expect((await reply(page, { kind: 'stored', id: r.model.id, contextLength: 256 })).length).toBeGreaterThan(0);
    expect(server.requests).toEqual([]);
  } finally {
    await context.setOffline(false);
  }
});
