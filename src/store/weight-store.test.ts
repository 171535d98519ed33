import 'fake-indexeddb/auto';
import { createStore, del, keys, set } from 'idb-keyval';
import { describe, expect, test } from 'vitest';
import { fixtureFile } from '../model/test-gguf.ts';
import { readGGUF } from '../model/gguf.ts';
import { bufferSource } from '../model/gguf-sources.ts';
import { CorruptChunkError, ModelNotStoredError } from '../common/errors.ts';
import { checkHeader } from './header-check.ts';
import { chunkCount, chunkSpan, missingRuns } from './manifest.ts';
import type { ModelSource } from './manifest.ts';
import { sha256Hex } from './sha256.ts';
import { firstDiff } from './test-fakes.ts';
import { WeightStore } from './weight-store.ts';

const CB = 16384;
let dbCount = 0;
function freshStore(): WeightStore {
  return new WeightStore({ name: `ws-test-${dbCount++}` });
}
function rawChunks(store: WeightStore) {
  return createStore(`${store.name}-chunks`, 'chunks');
}
function urlSource(size: number): ModelSource {
  return { kind: 'url', url: 'https://example.test/m.gguf', size };
}

/** Stores `bytes` as model `id` the way a download does; returns the manifest. */
async function storeWhole(store: WeightStore, id: string, bytes: Uint8Array, complete = true) {
  const m = await store.beginModel({ id, source: urlSource(bytes.length), chunkBytes: CB });
  for (let i = 0; i < chunkCount(m); i++) {
    const { start, end } = chunkSpan(m, i);
    await store.putChunk(id, i, bytes.subarray(start, end));
  }
  if (complete) await store.markComplete(id, (await checkHeader(await store.storeSource(id, { requireComplete: false }))).header);
  return (await store.getManifest(id))!;
}

const file = fixtureFile();

describe('WeightStore', () => {
  test('chunks are hashed, recorded in order, and read back byte for byte across chunk boundaries', async () => {
    const store = freshStore();
    const m = await storeWhole(store, 'a', file);
    expect(m.complete).toBe(true);
    expect(m.chunks.map((c) => c.index)).toEqual([...Array(chunkCount(m)).keys()]);
    expect(m.chunks[1].sha256).toBe(await sha256Hex(file.subarray(CB, 2 * CB)));
    expect(await store.storedBytes('a')).toBe(file.length);
    expect(m.header).toMatchObject({ architecture: 'phi3', name: 'Phi3 fixture', ggufVersion: 3 });

    const src = await store.storeSource('a');
    expect(src.size).toBe(file.length);
    // Reads inside a chunk, across one boundary, across several, and the tail.
    for (const [off, len] of [[0, 10], [CB - 3, 7], [CB - 1, 2 * CB + 5], [5, file.length - 5], [file.length - 1, 1], [100, 0]]) {
      expect(firstDiff(await src.read(off, len), file.subarray(off, off + len))).toBe(-1);
    }
    await expect(src.read(file.length - 1, 2)).rejects.toThrow(RangeError);
  });

  test('storeSource feeds readGGUF to the same header as the original file', async () => {
    const store = freshStore();
    await storeWhole(store, 'a', file);
    const fromStore = await readGGUF(await store.storeSource('a'));
    const original = await readGGUF(bufferSource(file));
    expect(fromStore.tensors).toEqual(original.tensors);
    expect([...fromStore.metadata.keys()]).toEqual([...original.metadata.keys()]);
    expect(fromStore.metadata.get('tokenizer.ggml.tokens')).toEqual(original.metadata.get('tokenizer.ggml.tokens'));
    expect(fromStore.dataOffset).toBe(original.dataOffset);
  });

  test('putChunk refuses wrong lengths and indices, and writes to a complete model', async () => {
    const store = freshStore();
    await store.beginModel({ id: 'a', source: urlSource(file.length), chunkBytes: CB });
    await expect(store.putChunk('a', 0, file.subarray(0, CB - 1))).rejects.toThrow(/16384 bytes/);
    await expect(store.putChunk('a', 16, file.subarray(0, CB))).rejects.toThrow(RangeError);
    // The last chunk is short: 250336 - 15 * 16384 = 4576 bytes.
    await expect(store.putChunk('a', 15, file.subarray(0, CB))).rejects.toThrow(/4576 bytes/);
    await expect(store.putChunk('nope', 0, file.subarray(0, CB))).rejects.toThrow(ModelNotStoredError);
    await storeWhole(store, 'b', file);
    await expect(store.putChunk('b', 0, file.subarray(0, CB))).rejects.toThrow(/complete/);
  });

  test('a chunk given as a view of a larger buffer is stored alone, not with its whole buffer', async () => {
    const store = freshStore();
    await store.beginModel({ id: 'a', source: urlSource(file.length), chunkBytes: CB });
    await store.putChunk('a', 1, file.subarray(CB, 2 * CB));
    const raw = (await store.readChunk('a', 1)) as Uint8Array;
    expect(raw.buffer.byteLength).toBe(CB);
    expect(raw).toEqual(file.subarray(CB, 2 * CB));
  });

  test('markComplete refuses while a chunk is missing', async () => {
    const store = freshStore();
    const m = await storeWhole(store, 'a', file, false);
    await store.forgetChunks('a', [3]);
    await expect(store.markComplete('a', { architecture: 'phi3', ggufVersion: 3, tensorCount: 0, contextLength: 1, nLayers: 1, vocabSize: 1 }))
      .rejects.toMatchObject({ name: 'CorruptChunkError', index: 3 });
    expect((await store.getManifest('a'))!.complete).toBe(false);
    expect(missingRuns((await store.getManifest('a'))!)).toEqual([{ first: 3, last: 3 }]);
    expect(m.complete).toBe(false);
  });

  test('verify and storeSource find an overwritten chunk and a deleted one', async () => {
    const store = freshStore();
    await storeWhole(store, 'a', file);
    const bad = file.slice(2 * CB, 3 * CB);
    bad[100] ^= 1;
    await set(['a', 2], bad, rawChunks(store));
    await del(['a', 5], rawChunks(store));
    expect(await store.verify('a')).toEqual({ ok: false, corrupt: [2], missing: [5], bad: [2, 5] });

    const src = await store.storeSource('a');
    expect(await src.read(CB, 10)).toEqual(file.subarray(CB, CB + 10)); // chunk 1 is fine
    await expect(src.read(2 * CB + 1, 4)).rejects.toMatchObject({ name: 'CorruptChunkError', modelId: 'a', index: 2, problem: 'mismatch' });
    await expect(src.read(CB, 4 * CB)).rejects.toBeInstanceOf(CorruptChunkError); // spans chunk 2
    await expect(src.read(5 * CB, 1)).rejects.toMatchObject({ index: 5, problem: 'missing' });
  });

  test('deleteModel removes every chunk of that model and nothing of another, even with a prefix id', async () => {
    const store = freshStore();
    await storeWhole(store, 'm', file);
    await storeWhole(store, 'm/1', file);
    await store.deleteModel('m');
    expect(await store.getManifest('m')).toBeUndefined();
    const left = await keys<[string, number]>(rawChunks(store));
    expect(left.length).toBe(16);
    expect(left.every((k) => k[0] === 'm/1')).toBe(true);
    expect((await store.listModels()).map((m) => m.id)).toEqual(['m/1']);
    expect((await store.verify('m/1')).ok).toBe(true);
  });

  test('beginModel over an existing id starts empty; removeOrphans cleans chunks without a manifest', async () => {
    const store = freshStore();
    await storeWhole(store, 'a', file);
    const m = await store.beginModel({ id: 'a', source: urlSource(file.length), chunkBytes: CB });
    expect(m.chunks).toEqual([]);
    expect(await keys(rawChunks(store))).toEqual([]);
    await set(['ghost', 0], new Uint8Array(4), rawChunks(store));
    expect(await store.removeOrphans()).toEqual(['ghost']);
    expect(await keys(rawChunks(store))).toEqual([]);
  });

  test('an incomplete model is no ByteSource unless asked for one explicitly', async () => {
    const store = freshStore();
    await storeWhole(store, 'a', file, false);
    await expect(store.storeSource('a')).rejects.toThrow(/not completely stored/);
    await expect(store.storeSource('zzz')).rejects.toThrow(ModelNotStoredError);
    expect((await store.storeSource('a', { requireComplete: false })).size).toBe(file.length);
  });

  test('chunk sizes must be positive multiples of 4096', async () => {
    const store = freshStore();
    await expect(store.beginModel({ id: 'a', source: urlSource(10), chunkBytes: 1000 })).rejects.toThrow(RangeError);
    await expect(store.beginModel({ id: 'a', source: urlSource(0), chunkBytes: CB })).rejects.toThrow(RangeError);
  });
});
