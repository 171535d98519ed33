import 'fake-indexeddb/auto';
import { createStore, keys, set } from 'idb-keyval';
import { describe, expect, test } from 'vitest';
import { fixtureFile } from '../model/test-gguf.ts';
import { repairModel } from './repair.ts';
import { CorruptChunkError, ModelFormatError } from '../common/errors.ts';
import { fileModelId, importFile } from './import.ts';
import type { StoreProgress } from './progress.ts';
import { fakeStorage, firstDiff } from './test-fakes.ts';
import { WeightStore } from './weight-store.ts';

const CB = 16384;
const bytes = fixtureFile({ seed: 3 });
let dbCount = 0;

function setup() {
  const store = new WeightStore({ name: `import-test-${dbCount++}` });
  const chunks = createStore(`${store.name}-chunks`, 'chunks');
  return { store, chunks };
}
const asFile = (b: Uint8Array, name = 'phi3-local.gguf') => new File([b as Uint8Array<ArrayBuffer>], name, { lastModified: 1234 });
const opts = { chunkBytes: CB, storage: fakeStorage(1e12) };

describe('importFile', () => {
  test('a valid GGUF is copied chunk by chunk and marked complete; the store reads back the same bytes', async () => {
    const { store } = setup();
    const progress: StoreProgress[] = [];
    const file = asFile(bytes);
    const r = await importFile(file, store, (p) => progress.push(p), opts);
    const m = r.manifest;
    expect(m.id).toBe(fileModelId(file));
    expect(m.id).toBe(`file:phi3-local.gguf:${bytes.length}`);
    expect(m).toMatchObject({ complete: true, displayName: 'phi3-local.gguf', chunkBytes: CB });
    expect(m.source).toEqual({ kind: 'file', name: 'phi3-local.gguf', size: bytes.length, lastModified: 1234 });
    expect(m.chunks.length).toBe(Math.ceil(bytes.length / CB));
    expect(m.header).toMatchObject({ architecture: 'phi3', name: 'Phi3 fixture' });
    expect(r.persisted).toBe(true);

    const src = await store.storeSource(m.id);
    expect(firstDiff(await src.read(0, src.size), bytes)).toBe(-1);
    const phases = progress.map((p) => p.phase).filter((p, i, a) => p !== a[i - 1]);
    expect(phases).toEqual(['checking', 'storing', 'verifying']);
  });

  test('a truncated file is rejected with ModelFormatError before anything is stored', async () => {
    const { store, chunks } = setup();
    const err = await importFile(asFile(bytes.slice(0, bytes.length - 1)), store, undefined, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toMatch(/ends past the end of the file/);
    await expect(importFile(asFile(bytes.slice(0, 10)), store, undefined, opts)).rejects.toThrow(ModelFormatError);
    await expect(importFile(asFile(new Uint8Array(0)), store, undefined, opts)).rejects.toThrow(/empty/);
    expect(await store.listModels()).toEqual([]);
    expect(await keys(chunks)).toEqual([]);
  });

  test('a model of another architecture is rejected up front', async () => {
    const { store } = setup();
    const gpt2 = fixtureFile({ arch: 'llama' }).slice();
    // Rename the architecture in place: "llama" -> "gpt_x" keeps every length and offset.
    const at = Buffer.from(gpt2).indexOf('llama');
    gpt2.set(new TextEncoder().encode('gpt_x'), at);
    await expect(importFile(asFile(gpt2), store, undefined, opts)).rejects.toThrow(/architecture "gpt_x" is not supported/);
    expect(await store.listModels()).toEqual([]);
  });

  test('quota too small: QuotaExceededError, nothing stored', async () => {
    const { store } = setup();
    const storage = fakeStorage(bytes.length - 1);
    await expect(importFile(asFile(bytes), store, undefined, { ...opts, storage })).rejects.toMatchObject({
      name: 'QuotaExceededError',
      neededBytes: bytes.length,
      availableBytes: bytes.length - 1,
    });
    expect(await store.listModels()).toEqual([]);
  });

  test('an aborted import leaves nothing behind', async () => {
    const { store, chunks } = setup();
    const ac = new AbortController();
    const p = importFile(asFile(bytes), store, (q) => {
      if (q.phase === 'storing') ac.abort();
    }, { ...opts, signal: ac.signal });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(await store.listModels()).toEqual([]);
    expect(await keys(chunks)).toEqual([]);
  });

  test('a corrupt chunk of an imported model is reported by verify, cannot be re-fetched, and a re-import fixes it', async () => {
    const { store, chunks } = setup();
    const file = asFile(bytes);
    const { manifest } = await importFile(file, store, undefined, opts);
    await set([manifest.id, 4], new Uint8Array(CB), chunks);
    expect(await store.verify(manifest.id)).toMatchObject({ ok: false, corrupt: [4] });
    const err = await repairModel({ id: manifest.id, store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptChunkError);
    expect(err).toMatchObject({ modelId: manifest.id, index: 4 });
    expect((err as Error).message).toMatch(/import the file again/);

    await importFile(file, store, undefined, opts);
    expect(await store.verify(manifest.id)).toMatchObject({ ok: true });
    expect((await store.listModels()).length).toBe(1);
  });
});
