import 'fake-indexeddb/auto';
import { createStore, del, keys, set } from 'idb-keyval';
import { describe, expect, test } from 'vitest';
import { fixtureFile } from '../model/test-gguf.ts';
import { parseGGUF } from '../model/gguf.ts';
import { Rng } from '../util/rng.ts';
import { downloadModel } from './download.ts';
import { repairModel } from './repair.ts';
import type { DownloadOptions } from './download.ts';
import { DownloadError, ModelFormatError, QuotaExceededError } from '../common/errors.ts';
import type { StoreProgress } from './progress.ts';
import { FakeFileServer, fakeStorage, firstDiff } from './test-fakes.ts';
import { WeightStore } from './weight-store.ts';

const CB = 16384;
const URL = 'https://models.test/phi3.gguf';
const file = fixtureFile(); // 250336 bytes: 15 full chunks and a 4576-byte tail
const SIZE = file.length;
let dbCount = 0;

function setup(bytes = file, etag: string | undefined = '"v1"') {
  const store = new WeightStore({ name: `dl-test-${dbCount++}` });
  // 3000-byte pieces: network reads straddle chunk boundaries.
  const server = new FakeFileServer(bytes, { etag, pieceBytes: 3000 });
  const progress: StoreProgress[] = [];
  const opts = (extra: Partial<DownloadOptions> = {}): DownloadOptions => ({
    id: 'phi3',
    url: URL,
    store,
    fetch: server.fetch,
    chunkBytes: CB,
    retryDelayMs: 0,
    storage: fakeStorage(1e12),
    onProgress: (p) => progress.push(p),
    ...extra,
  });
  return { store, server, progress, opts };
}

/** The whole stored model, read back through its ByteSource (which checks every chunk's hash). */
async function storedBytes(store: WeightStore, id = 'phi3'): Promise<Uint8Array> {
  const src = await store.storeSource(id);
  return (await src.read(0, src.size)).slice();
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.u32() & 0xff);
}

async function expectNothingComplete(store: WeightStore) {
  for (const m of await store.listModels()) expect(m.complete).toBe(false);
}

describe('downloadModel', () => {
  test('a complete download stores exactly the source bytes and reports its phases', async () => {
    const { store, server, progress, opts } = setup();
    const storage = fakeStorage(1e12);
    const r = await downloadModel(opts({ storage }));
    expect(r.manifest.complete).toBe(true);
    expect(r.manifest.source).toEqual({ kind: 'url', url: URL, size: SIZE, etag: '"v1"' });
    expect(r.manifest.header).toMatchObject({ architecture: 'phi3', tensorCount: (await parseGGUF(file)).tensors.length, contextLength: 4096 });
    expect(r.persisted).toBe(true);
    expect(storage.calls.persist).toBe(1);
    expect(r.bytesFetched).toBe(SIZE);
    expect(server.requests).toEqual([{ range: 'bytes=0-', status: 206, served: SIZE }]);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);

    const phases = progress.map((p) => p.phase).filter((p, i, a) => p !== a[i - 1]);
    expect(phases).toEqual(['checking', 'downloading', 'verifying']);
    const dl = progress.filter((p) => p.phase === 'downloading').map((p) => p.bytesDone);
    expect(dl).toEqual([...dl].sort((a, b) => a - b));
    expect(progress[progress.length - 1]).toMatchObject({ phase: 'verifying', bytesDone: SIZE, bytesTotal: SIZE });

    // A second call finds it complete and fetches nothing.
    const again = await downloadModel(opts());
    expect(again.alreadyComplete).toBe(true);
    expect(server.requests.length).toBe(1);
  });

  test('progress has a speed and an ETA from the injected clock', async () => {
    const { opts, progress } = setup();
    let t = 0;
    await downloadModel(opts({ now: () => (t += 50) })); // every update 50 ms later
    const mid = progress.find((p) => p.phase === 'downloading' && p.bytesPerSecond > 0 && p.etaSeconds !== undefined);
    expect(mid).toBeDefined();
    expect(mid!.etaSeconds!).toBeCloseTo((SIZE - mid!.bytesDone) / mid!.bytesPerSecond, 6);
  });

  test('a cut connection keeps the whole chunks; the next call resumes from the first missing byte', async () => {
    const { store, server, opts } = setup();
    server.fail({ kind: 'cut', afterBytes: 50_000 });
    const err = await downloadModel(opts({ maxAttempts: 1 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toMatchObject({ reason: 'network', retryable: true });
    const m = (await store.getManifest('phi3'))!;
    expect(m.complete).toBe(false);
    expect(m.chunks.map((c) => c.index)).toEqual([0, 1, 2]); // 50000 bytes = 3 whole chunks + 848
    expect(await store.storedBytes('phi3')).toBe(3 * CB);

    // A new call (as after a page reload: a new store object over the same database).
    const again = new WeightStore({ name: store.name });
    const r = await downloadModel(opts({ store: again }));
    expect(server.requests.map((q) => q.range)).toEqual(['bytes=0-', `bytes=${3 * CB}-`]);
    expect(server.requests[1].served).toBe(SIZE - 3 * CB);
    expect(r.bytesFetched).toBe(SIZE - 3 * CB);
    expect(firstDiff(await storedBytes(again), file)).toBe(-1);
  });

  test('transient failures are retried within one call: a cut, a 500, a stall', async () => {
    const { store, server, opts } = setup();
    server.fail({ kind: 'cut', afterBytes: 40_000 }, { kind: 'status', status: 500 }, { kind: 'stall', afterBytes: 20_000 });
    const r = await downloadModel(opts({ idleTimeoutMs: 50 }));
    expect(server.requests.map((q) => [q.range, q.status])).toEqual([
      ['bytes=0-', 206],
      [`bytes=${2 * CB}-`, 500],
      [`bytes=${2 * CB}-`, 206],
      [`bytes=${3 * CB}-`, 206], // the stall delivered one more whole chunk before the watchdog fired
    ]);
    expect(r.manifest.complete).toBe(true);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
  });

  test('a server that ignores Range gives a clean restart from byte 0 and a correct model', async () => {
    const { store, server, opts } = setup();
    server.fail({ kind: 'cut', afterBytes: 70_000 });
    await expect(downloadModel(opts({ maxAttempts: 1 }))).rejects.toThrow(DownloadError);
    expect(await store.storedBytes('phi3')).toBe(4 * CB);

    server.always({ kind: 'ignore-range' });
    const r = await downloadModel(opts());
    expect(server.requests[1]).toEqual({ range: `bytes=${4 * CB}-`, status: 200, served: SIZE });
    expect(r.restarts).toEqual(['the server ignored the Range request and sent the whole file']);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
  });

  test('a file changed on the server (new ETag) restarts cleanly, with the reason', async () => {
    const { store, server, opts, progress } = setup();
    server.fail({ kind: 'cut', afterBytes: 40_000 });
    await expect(downloadModel(opts({ maxAttempts: 1 }))).rejects.toThrow(DownloadError);
    const v2 = fixtureFile({ seed: 2 }); // same size, other weights
    expect(v2.length).toBe(SIZE);
    server.replace(v2, '"v2"');
    const r = await downloadModel(opts());
    expect(r.restarts).toEqual(['the file on the server changed (ETag "v1" -> "v2")']);
    expect(progress.some((p) => p.message?.includes('Starting the download over'))).toBe(true);
    expect(server.requests.map((q) => q.range)).toEqual(['bytes=0-', `bytes=${2 * CB}-`, 'bytes=0-']);
    expect(server.requests[1].served).toBe(0); // cancelled before reading any of it
    expect(r.manifest.source).toMatchObject({ etag: '"v2"', size: SIZE });
    expect(firstDiff(await storedBytes(store), v2)).toBe(-1);
  });

  test('a file that changed size on the server restarts cleanly (no ETag; and past its end: 416)', async () => {
    const { store, server, opts } = setup(file, undefined);
    server.fail({ kind: 'cut', afterBytes: 40_000 });
    await expect(downloadModel(opts({ maxAttempts: 1 }))).rejects.toThrow(DownloadError);
    const longer = fixtureFile({ vocabSize: 320 });
    server.replace(longer);
    const r = await downloadModel(opts());
    expect(r.restarts[0]).toMatch(/changed size \(250336 -> \d+ bytes\)/);
    expect(firstDiff(await storedBytes(store), longer)).toBe(-1);

    const s2 = setup(file, undefined);
    s2.server.fail({ kind: 'cut', afterBytes: 100_000 });
    await expect(downloadModel(s2.opts({ maxAttempts: 1 }))).rejects.toThrow(DownloadError);
    const tiny = fixtureFile({ dim: 32, nLayers: 1, vocabSize: 280, ffnDim: 64 }); // 64320 bytes < 6 chunks
    s2.server.replace(tiny);
    const r2 = await downloadModel(s2.opts());
    expect(s2.server.requests.map((q) => q.status)).toEqual([206, 416, 206]);
    expect(r2.restarts[0]).toMatch(/now 64320 bytes/);
    expect(firstDiff(await storedBytes(s2.store), tiny)).toBe(-1);
  });

  test('the quota is checked against the bytes still missing when resuming; persist() is reported', async () => {
    const { store, server, opts } = setup();
    server.fail({ kind: 'cut', afterBytes: 50_000 });
    await expect(downloadModel(opts({ maxAttempts: 1 }))).rejects.toThrow(DownloadError);
    const remaining = SIZE - 3 * CB;
    const tight = fakeStorage(remaining + 10, 11, false);
    await expect(downloadModel(opts({ storage: tight }))).rejects.toMatchObject({ neededBytes: remaining, availableBytes: remaining - 1 });
    expect(server.requests.length).toBe(1); // the size was known from the manifest: no request
    const r = await downloadModel(opts({ storage: fakeStorage(remaining, 0, false) }));
    expect(r.persisted).toBe(false);
    expect(r.manifest.complete).toBe(true);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
  });

  test('a 206 without a readable Content-Range (cross-origin) is sized by its Content-Length', async () => {
    const { store, server, opts } = setup();
    server.always({ kind: 'hide-content-range' });
    server.fail({ kind: 'cut', afterBytes: 40_000 });
    const r = await downloadModel(opts());
    expect(server.requests.map((q) => q.range)).toEqual(['bytes=0-', `bytes=${2 * CB}-`]);
    expect(r.manifest.source.size).toBe(SIZE);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
  });

  test('a download that has to start over again and again gives up instead of looping', async () => {
    const { store, server, opts } = setup();
    server.always({ kind: 'ignore-range' }, { kind: 'cut', afterBytes: 40_000 });
    const err = await downloadModel(opts()).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DownloadError', reason: 'changed' });
    expect((err as Error).message).toMatch(/start over 4 times/);
    expect(server.requests.length).toBe(5);
    await expectNothingComplete(store);
  });

  test('one writer per model: a second download of the same id while one runs is refused', async () => {
    const { server, opts } = setup();
    const ac = new AbortController();
    server.fail({ kind: 'stall', afterBytes: 0 });
    const first = downloadModel(opts({ signal: ac.signal }));
    const stalled = new Promise<void>((r) => (server.onStall = r));
    await stalled;
    await expect(downloadModel(opts())).rejects.toMatchObject({ name: 'ModelBusyError', modelId: 'phi3' });
    ac.abort();
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    await expect(downloadModel(opts())).resolves.toMatchObject({ manifest: { complete: true } });
  });

  test('404 fails at once with its status; nothing is stored', async () => {
    const { store, server, opts } = setup();
    server.always({ kind: 'status', status: 404 });
    const err = await downloadModel(opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toMatchObject({ name: 'DownloadError', status: 404, reason: 'http-status', retryable: false });
    expect((err as Error).message).toMatch(/not found.*HTTP 404/);
    expect(server.requests.length).toBe(1);
    expect(await store.listModels()).toEqual([]);
  });

  test('a server that keeps failing (500) is given up after maxAttempts, keeping what was stored', async () => {
    const { store, server, opts } = setup();
    server.fail({ kind: 'cut', afterBytes: 40_000 });
    await expect(downloadModel(opts({ maxAttempts: 1 }))).rejects.toThrow(DownloadError);
    server.always({ kind: 'status', status: 500 });
    const err = await downloadModel(opts({ maxAttempts: 3 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DownloadError', status: 500, reason: 'http-status' });
    expect((err as Error).message).toMatch(/gave up after 3 attempts.*32.8 KB already stored are kept/);
    await expectNothingComplete(store);
    expect(await store.storedBytes('phi3')).toBe(2 * CB);
    expect(server.requests.map((q) => q.status)).toEqual([206, 500, 500, 500]);
  });

  test('a short body and a wrong Content-Length are DownloadErrors, never a complete model', async () => {
    const a = setup();
    a.server.always({ kind: 'short', afterBytes: 10_000 }); // less than a chunk: no progress
    await expect(downloadModel(a.opts({ maxAttempts: 2 }))).rejects.toMatchObject({ reason: 'short-body', status: 206 });
    await expectNothingComplete(a.store);

    const b = setup();
    b.server.always({ kind: 'content-length', value: SIZE - 1 });
    await expect(downloadModel(b.opts())).rejects.toMatchObject({ reason: 'bad-length', status: 206, retryable: false });
    expect(await b.store.listModels()).toEqual([]);

    // No Range support and a lying Content-Length: more bytes than announced.
    const c = setup();
    c.server.always({ kind: 'ignore-range' }, { kind: 'content-length', value: SIZE - 5000 });
    await expect(downloadModel(c.opts())).rejects.toMatchObject({ reason: 'long-body', status: 200 });
    expect(await c.store.listModels()).toEqual([]);
  });

  test('a stalled download is aborted by the signal; its chunks stay and a new call finishes it', async () => {
    const { store, server, opts } = setup();
    server.fail({ kind: 'stall', afterBytes: 40_000 });
    const ac = new AbortController();
    server.onStall = () => ac.abort();
    // The default idle timeout (60 s) is far away: only the signal ends this.
    await expect(downloadModel(opts({ signal: ac.signal }))).rejects.toMatchObject({ name: 'AbortError' });
    expect(await store.storedBytes('phi3')).toBe(2 * CB);
    const r = await downloadModel(opts());
    expect(server.requests[1].range).toBe(`bytes=${2 * CB}-`);
    expect(r.manifest.complete).toBe(true);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
  });

  test('quota smaller than the file: QuotaExceededError with both numbers, before anything is stored', async () => {
    const { store, server, opts } = setup();
    const storage = fakeStorage(SIZE + 1000, 2000); // 1000 bytes short
    const err = await downloadModel(opts({ storage })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err).toMatchObject({ name: 'QuotaExceededError', neededBytes: SIZE, availableBytes: SIZE - 1000 });
    expect((err as Error).message).toContain(`${SIZE} bytes`);
    expect((err as Error).message).toContain(`${SIZE - 1000} bytes`);
    expect(await store.listModels()).toEqual([]);
    expect(await keys(createStore(`${store.name}-chunks`, 'chunks'))).toEqual([]);
    expect(server.requests[0].served).toBe(0);

    // With the size known in advance (registry), it fails before any request.
    const s2 = setup();
    await expect(downloadModel(s2.opts({ storage, expectedBytes: SIZE }))).rejects.toThrow(QuotaExceededError);
    expect(s2.server.requests).toEqual([]);
  });

  test('a file that is not a GGUF is rejected, and deleted, before the model is ever ready', async () => {
    const { store, opts } = setup(new TextEncoder().encode('<html>'.padEnd(20_000, ' ') + '</html>'));
    await expect(downloadModel(opts())).rejects.toThrow(ModelFormatError);
    expect(await store.listModels()).toEqual([]);

    // A truncated GGUF: the header parses but the tensor data ends early.
    const t = setup(file.slice(0, SIZE - 100));
    await expect(downloadModel(t.opts())).rejects.toThrow(/ends past the end of the file/);
    expect(await t.store.listModels()).toEqual([]);
  });

  test('junk is rejected after its first chunk, not after the whole file', async () => {
    const junk = randomBytes(3 << 20, 7);
    const { store, server, opts } = setup(junk);
    await expect(downloadModel(opts({ chunkBytes: 1 << 20 }))).rejects.toThrow(/bad magic/);
    expect(server.bytesServed).toBeLessThan((1 << 20) + 3000 + 1);
    expect(await store.listModels()).toEqual([]);
  });
});

describe('repairModel', () => {
  test('a chunk corrupted in the store is found by verify and storeSource, and repair fetches only it', async () => {
    const { store, server, opts } = setup();
    await downloadModel(opts());
    const bad = file.slice(2 * CB, 3 * CB);
    bad[7] ^= 0xff;
    await set(['phi3', 2], bad, createStore(`${store.name}-chunks`, 'chunks'));

    expect(await store.verify('phi3')).toMatchObject({ ok: false, corrupt: [2], missing: [] });
    const src = await store.storeSource('phi3');
    await expect(src.read(0, SIZE)).rejects.toMatchObject({ name: 'CorruptChunkError', modelId: 'phi3', index: 2 });

    const before = server.bytesServed;
    const r = await repairModel(opts());
    expect(r.repaired).toEqual([2]);
    expect(server.requests[server.requests.length - 1]).toEqual({ range: `bytes=${2 * CB}-${3 * CB - 1}`, status: 206, served: CB });
    expect(server.bytesServed - before).toBe(CB);
    expect(r.manifest.complete).toBe(true);
    expect((await store.verify('phi3')).ok).toBe(true);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
  });

  test('missing chunks in two runs, one at the end: one request per run, exact bytes', async () => {
    const { store, server, opts } = setup();
    await downloadModel(opts());
    const chunks = createStore(`${store.name}-chunks`, 'chunks');
    for (const i of [4, 5, 15]) await del(['phi3', i], chunks);
    const before = server.bytesServed;
    const r = await repairModel(opts());
    expect(r.repaired).toEqual([4, 5, 15]);
    expect(server.requests.slice(1).map((q) => q.range)).toEqual([`bytes=${4 * CB}-${6 * CB - 1}`, `bytes=${15 * CB}-`]);
    expect(server.bytesServed - before).toBe(2 * CB + (SIZE - 15 * CB));
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
  });

  test('a healthy model needs no repair', async () => {
    const { server, opts } = setup();
    await downloadModel(opts());
    const r = await repairModel(opts());
    expect(r.repaired).toEqual([]);
    expect(server.requests.length).toBe(1);
  });

  test('a corrupt chunk found while finishing a download is fetched again before completion', async () => {
    const { store, server, opts } = setup();
    server.fail({ kind: 'cut', afterBytes: 40_000 });
    await expect(downloadModel(opts({ maxAttempts: 1 }))).rejects.toThrow(DownloadError);
    const bad = file.slice(0, CB);
    bad[0] = 0;
    await set(['phi3', 0], bad, createStore(`${store.name}-chunks`, 'chunks'));
    const r = await downloadModel(opts());
    expect(server.requests.map((q) => q.range)).toEqual(['bytes=0-', `bytes=${2 * CB}-`, `bytes=0-${CB - 1}`]);
    expect(r.manifest.complete).toBe(true);
    expect(firstDiff(await storedBytes(store), file)).toBe(-1);
    await expect(store.verify('phi3')).resolves.toMatchObject({ ok: true });
  });
});
