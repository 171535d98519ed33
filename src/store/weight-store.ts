/**
 * The model store in IndexedDB (through idb-keyval, DESIGN.md section 5). A model is the
 * ORIGINAL GGUF bytes cut into fixed-size chunks, plus a manifest (manifest.ts). The engine
 * repacks tensors at load, so what is stored can be checked against the source file byte for
 * byte, and `storeSource` feeds the same `readGGUF` + `Engine.load` as a Blob or a URL.
 *
 * Two databases, since idb-keyval gives each database one object store:
 *   <name>-models / manifests : id -> ModelManifest (small; listing models never touches chunks)
 *   <name>-chunks / chunks    : [id, index] -> Uint8Array (array keys: a range covers one model)
 *
 * Ordering keeps the manifest honest across crashes: a chunk's bytes are written before the
 * manifest records it, and the manifest forgets chunks before their bytes are deleted. So a
 * recorded chunk always has bytes (unless the browser lost them, which `verify` finds), and the
 * worst a crash leaves is unrecorded bytes that the next write overwrites or `deleteModel` removes.
 */

import { createStore, del, get, keys, promisifyRequest, set, update, values } from 'idb-keyval';
import type { UseStore } from 'idb-keyval';
import type { ByteSource } from '../model/gguf-types.ts';
import { ChunkSource } from './chunk-source.ts';
import type { ChunkSourceOptions } from './chunk-source.ts';
import { CorruptChunkError, ModelNotStoredError, QuotaExceededError } from '../common/errors.ts';
import { chunkCount, chunkSpan, missingChunks, storedByteCount } from './manifest.ts';
import type { ChunkRecord, HeaderSummary, ModelManifest, ModelSource } from './manifest.ts';
import { availableBytes, platformStorage } from './quota.ts';
import { sha256Hex } from './sha256.ts';

/** 16 MiB: ~143 chunks for Phi-3-mini's 2.39 GB; one chunk in memory while downloading. */
const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;
/** Chunk sizes are multiples of this, so every tensor view into a chunk stays aligned. */
const CHUNK_ALIGN = 4096;

export interface WeightStoreOptions {
  /** Database name prefix (default "phi3-chat"); tests use a fresh one each. */
  name?: string;
}

export interface NewModel {
  id: string;
  source: ModelSource;
  chunkBytes?: number;
  displayName?: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Stored, but the bytes do not match the recorded SHA-256 (or length). */
  corrupt: number[];
  /** Not recorded in the manifest, or recorded but the bytes are gone. */
  missing: number[];
  /** corrupt and missing together, ascending: what a repair has to fetch. */
  bad: number[];
}

type ChunkKey = [string, number];

/** Every chunk key of one model: [id, 0] .. [id, +Infinity]. */
function modelRange(id: string): IDBKeyRange {
  return IDBKeyRange.bound([id, 0], [id, Infinity]);
}

/** `bytes` itself when it owns its whole buffer, else a copy: a view would store the whole buffer. */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

export class WeightStore {
  private readonly manifests: UseStore;
  private readonly chunks: UseStore;
  readonly name: string;

  constructor(opts: WeightStoreOptions = {}) {
    this.name = opts.name ?? 'phi3-chat';
    this.manifests = createStore(`${this.name}-models`, 'manifests');
    this.chunks = createStore(`${this.name}-chunks`, 'chunks');
  }

  /** Every model, complete or not, oldest first. */
  async listModels(): Promise<ModelManifest[]> {
    const all = await values<ModelManifest>(this.manifests);
    return all.sort((a, b) => a.createdAt - b.createdAt);
  }

  getManifest(id: string): Promise<ModelManifest | undefined> {
    return get<ModelManifest>(id, this.manifests);
  }

  private async mustGet(id: string): Promise<ModelManifest> {
    const m = await this.getManifest(id);
    if (!m) throw new ModelNotStoredError(id);
    return m;
  }

  /**
   * Starts a model afresh: writes an empty, incomplete manifest (replacing any earlier one under
   * `id`), then deletes any chunks stored under `id`.
   */
  async beginModel(init: NewModel): Promise<ModelManifest> {
    const chunkBytes = init.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % CHUNK_ALIGN !== 0) {
      throw new RangeError(`chunkBytes ${chunkBytes} must be a positive multiple of ${CHUNK_ALIGN}`);
    }
    if (!Number.isSafeInteger(init.source.size) || init.source.size <= 0) {
      throw new RangeError(`model size ${init.source.size} must be a positive integer`);
    }
    const m: ModelManifest = { id: init.id, source: init.source, chunkBytes, chunks: [], complete: false, createdAt: Date.now() };
    if (init.displayName !== undefined) m.displayName = init.displayName;
    await set(init.id, m, this.manifests);
    await this.deleteChunkRange(init.id);
    return m;
  }

  /**
   * Hashes and stores chunk `index` of an incomplete model and records it in the manifest.
   * `bytes` must be exactly the chunk's span of the file (chunkBytes, or less for the last).
   */
  async putChunk(id: string, index: number, bytes: Uint8Array): Promise<ChunkRecord> {
    const m = await this.mustGet(id);
    if (m.complete) throw new Error(`model "${id}" is complete; forget its chunks before writing new ones`);
    const n = chunkCount(m);
    if (!Number.isSafeInteger(index) || index < 0 || index >= n) throw new RangeError(`chunk index ${index} is outside 0..${n - 1} of "${id}"`);
    const { start, end } = chunkSpan(m, index);
    if (bytes.length !== end - start) {
      throw new RangeError(`chunk ${index} of "${id}" must hold bytes ${start}..${end - 1} (${end - start} bytes), got ${bytes.length}`);
    }
    const data = ownBytes(bytes);
    const rec: ChunkRecord = { index, bytes: data.length, sha256: await sha256Hex(data) };
    try {
      await set([id, index] satisfies ChunkKey, data, this.chunks);
    } catch (e) {
      throw await this.asQuotaError(e, data.length);
    }
    await update<ModelManifest>(
      id,
      (cur) => {
        // deleteModel takes no lock: another tab may delete a model while it downloads here
        if (!cur) throw new ModelNotStoredError(id, `was deleted while chunk ${index} was being stored`);
        if (cur.complete) throw new Error(`model "${id}" was completed while chunk ${index} was being stored`);
        const chunks = cur.chunks.filter((c) => c.index !== index);
        chunks.push(rec);
        chunks.sort((a, b) => a.index - b.index);
        return { ...cur, chunks };
      },
      this.manifests,
    );
    return rec;
  }

  /** Marks a model complete. Every chunk must be recorded; this is the last write of a download. */
  async markComplete(id: string, header: HeaderSummary): Promise<ModelManifest> {
    let out: ModelManifest | undefined;
    await update<ModelManifest>(
      id,
      (cur) => {
        if (!cur) throw new ModelNotStoredError(id);
        const missing = missingChunks(cur);
        if (missing.length > 0) throw new CorruptChunkError(id, missing[0], 'missing', `${missing.length} chunk(s) not stored yet`);
        out = { ...cur, header, complete: true, completedAt: Date.now() };
        return out;
      },
      this.manifests,
    );
    return out as ModelManifest;
  }

  /** Drops chunks from the manifest (the model becomes incomplete), then deletes their bytes. */
  async forgetChunks(id: string, indices: readonly number[] | 'all'): Promise<void> {
    const drop = indices === 'all' ? undefined : new Set(indices);
    await update<ModelManifest>(
      id,
      (cur) => {
        if (!cur) throw new ModelNotStoredError(id);
        const next: ModelManifest = { ...cur, chunks: drop ? cur.chunks.filter((c) => !drop.has(c.index)) : [], complete: false };
        delete next.completedAt;
        return next;
      },
      this.manifests,
    );
    if (!drop) return this.deleteChunkRange(id);
    await this.chunks('readwrite', (s) => {
      for (const i of drop) s.delete([id, i] satisfies ChunkKey);
      return promisifyRequest(s.transaction);
    });
  }

  /** Removes the manifest, then every chunk stored under `id`. */
  async deleteModel(id: string): Promise<void> {
    await del(id, this.manifests);
    await this.deleteChunkRange(id);
  }

  /** Deletes chunks whose model has no manifest (left by a crash inside deleteModel). */
  async removeOrphans(): Promise<string[]> {
    const ids = new Set((await keys<string>(this.manifests)).map(String));
    const orphans = new Set<string>();
    for (const k of await keys<ChunkKey>(this.chunks)) if (!ids.has(k[0])) orphans.add(k[0]);
    for (const id of orphans) await this.deleteChunkRange(id);
    return [...orphans];
  }

  /** Bytes of the chunks recorded so far. */
  async storedBytes(id: string): Promise<number> {
    const m = await this.getManifest(id);
    return m ? storedByteCount(m) : 0;
  }

  /** The raw stored value of one chunk (undefined if absent). No checks. */
  readChunk(id: string, index: number): Promise<unknown> {
    return get([id, index] satisfies ChunkKey, this.chunks);
  }

  /**
   * Re-reads and re-hashes every chunk of the model against its manifest. Reads one chunk at a
   * time; `onChunk` reports how many of `total` are done.
   */
  async verify(id: string, onChunk?: (done: number, total: number) => void): Promise<VerifyReport> {
    const m = await this.mustGet(id);
    const recs = new Map(m.chunks.map((c) => [c.index, c]));
    const n = chunkCount(m);
    const corrupt: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < n; i++) {
      const rec = recs.get(i);
      const data = rec ? await this.readChunk(id, i) : undefined;
      if (!rec || data === undefined) missing.push(i);
      else if (!(data instanceof Uint8Array) || data.length !== rec.bytes || (await sha256Hex(data)) !== rec.sha256) corrupt.push(i);
      onChunk?.(i + 1, n);
    }
    const bad = [...corrupt, ...missing].sort((a, b) => a - b);
    return { ok: bad.length === 0, corrupt, missing, bad };
  }

  /**
   * A ByteSource over the stored chunks (see chunk-source.ts); a missing or corrupt chunk throws
   * CorruptChunkError when read. Refuses an incomplete model unless `requireComplete` is false
   * (the download's own header check reads before the model is complete).
   */
  async storeSource(id: string, opts: ChunkSourceOptions & { requireComplete?: boolean } = {}): Promise<ByteSource> {
    const m = await this.mustGet(id);
    if (!m.complete && opts.requireComplete !== false) throw new ModelNotStoredError(id, 'is not completely stored yet');
    return new ChunkSource(m, (i) => this.readChunk(id, i), opts);
  }

  private deleteChunkRange(id: string): Promise<void> {
    return this.chunks('readwrite', (s) => {
      s.delete(modelRange(id));
      return promisifyRequest(s.transaction);
    });
  }

  private async asQuotaError(e: unknown, bytes: number): Promise<unknown> {
    if (!(e instanceof Error || e instanceof DOMException) || e.name !== 'QuotaExceededError') return e;
    const available = await availableBytes(platformStorage()).catch(() => undefined);
    return new QuotaExceededError(bytes, available ?? NaN, 'the next chunk of the model', { cause: e });
  }
}
