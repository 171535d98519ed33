/**
 * Installs a local .gguf (picked or dropped) into the weight store, fully offline:
 *
 *   1. checking: the header must parse and describe a model we run, before anything is stored
 *   2. storing: the file is copied chunk by chunk, exactly as a download stores it
 *   3. verifying: the header read back from the store; then the manifest is marked complete
 *
 * An import always starts clean (the file is local, so there is nothing worth resuming), and a
 * failed or aborted import leaves nothing behind. A chunk that goes bad later cannot be fetched
 * again: `verify` reports it and the user imports the file again.
 */

import { ModelFormatError } from '../common/errors.ts';
import { blobSource } from '../model/gguf-sources.ts';
import { abortError } from './http.ts';
import { checkHeader } from './header-check.ts';
import type { CheckedHeader } from './header-check.ts';
import { withModelLock } from './lock.ts';
import { chunkCount, chunkSpan, storedByteCount } from './manifest.ts';
import type { ModelManifest } from './manifest.ts';
import { ProgressMeter } from './progress.ts';
import type { ProgressCallback } from './progress.ts';
import { checkQuota, platformStorage, requestPersistence } from './quota.ts';
import type { StorageLike } from './quota.ts';
import type { WeightStore } from './weight-store.ts';

export type ImportableFile = Blob & { readonly name: string; readonly lastModified?: number };

export interface ImportOptions {
  /** Store key (default `fileModelId(file)`); importing under an existing id replaces that model. */
  id?: string;
  chunkBytes?: number;
  displayName?: string;
  signal?: AbortSignal;
  /** `navigator.storage` by default; null: skip the quota check and persistence. */
  storage?: StorageLike | null;
  now?: () => number;
}

export interface ImportResult {
  manifest: ModelManifest;
  persisted: boolean | undefined;
}

/** "file:<name>:<size>": importing the same file again replaces its earlier copy. */
export function fileModelId(file: ImportableFile): string {
  return `file:${file.name}:${file.size}`;
}

export function importFile(file: ImportableFile, store: WeightStore, onProgress?: ProgressCallback, opts: ImportOptions = {}): Promise<ImportResult> {
  const id = opts.id ?? fileModelId(file);
  return withModelLock(store.name, id, () => runImport(id, file, store, onProgress, opts));
}

async function runImport(id: string, file: ImportableFile, store: WeightStore, onProgress: ProgressCallback | undefined, opts: ImportOptions): Promise<ImportResult> {
  const meter = new ProgressMeter(onProgress, opts.now);
  const storage = opts.storage === null ? undefined : (opts.storage ?? platformStorage());
  const throwIfAborted = () => {
    if (opts.signal?.aborted) throw opts.signal.reason ?? abortError();
  };
  const size = file.size;

  // 1. The header, straight from the file.
  meter.update('checking', 0, size, true);
  if (size === 0) throw new ModelFormatError(`"${file.name}" is empty, not a GGUF model file`);
  await checkHeader(blobSource(file, file.name));
  const old = await store.getManifest(id);
  await checkQuota(storage, size - (old ? storedByteCount(old) : 0), `"${file.name}"`);
  const persisted = await requestPersistence(storage);
  throwIfAborted();

  // 2. Copy it in.
  const m = await store.beginModel({
    id,
    source: { kind: 'file', name: file.name, size, lastModified: file.lastModified ?? 0 },
    chunkBytes: opts.chunkBytes,
    displayName: opts.displayName ?? file.name,
  });
  try {
    let done = 0;
    for (let i = 0, n = chunkCount(m); i < n; i++) {
      throwIfAborted();
      const { start, end } = chunkSpan(m, i);
      const bytes = new Uint8Array(await file.slice(start, end).arrayBuffer());
      if (bytes.length !== end - start) throw new ModelFormatError(`"${file.name}" could not be read: got ${bytes.length} of ${end - start} bytes at ${start}`);
      await store.putChunk(id, i, bytes);
      done += bytes.length;
      meter.update('storing', done, size);
    }

    // 3. Read it back; mark complete last.
    meter.update('verifying', size, size, true);
    const checked: CheckedHeader = await checkHeader(await store.storeSource(id, { requireComplete: false }));
    const manifest = await store.markComplete(id, checked.header);
    return { manifest, persisted };
  } catch (e) {
    await store.deleteModel(id).catch(() => {});
    throw e;
  }
}
