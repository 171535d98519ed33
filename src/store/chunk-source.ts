/**
 * A ByteSource over a stored model's chunks, so `readGGUF` and `Engine.load` read IndexedDB the
 * way they read a Blob or a URL. Each chunk is checked against its recorded SHA-256 the first
 * time it is loaded; the last few chunks loaded stay in memory, since the engine reads a tensor
 * row range at a time and neighbouring reads share chunks.
 */

import type { ByteSource } from '../model/gguf-types.ts';
import { CorruptChunkError } from '../common/errors.ts';
import { chunkCount, chunkSpan } from './manifest.ts';
import type { ModelManifest } from './manifest.ts';
import { sha256Hex } from './sha256.ts';

export interface ChunkSourceOptions {
  /** Chunks kept in memory (default 2). */
  cacheChunks?: number;
}

export class ChunkSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  private readonly records: Map<number, { bytes: number; sha256: string }>;
  private readonly cache = new Map<number, Promise<Uint8Array>>();
  private readonly verified = new Set<number>();
  private readonly cacheChunks: number;

  constructor(
    private readonly manifest: ModelManifest,
    private readonly load: (index: number) => Promise<unknown>,
    opts: ChunkSourceOptions = {},
  ) {
    this.size = manifest.source.size;
    this.name = manifest.displayName ?? manifest.id;
    this.records = new Map(manifest.chunks.map((c) => [c.index, c]));
    this.cacheChunks = Math.max(1, opts.cacheChunks ?? 2);
  }

  /**
   * Exactly `length` bytes at `offset`. A read inside one chunk returns a view of the cached
   * chunk (do not write to it); a read across chunks returns a new array.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`read(${offset}, ${length}) is outside the ${this.size}-byte model "${this.manifest.id}"`);
    }
    if (length === 0) return new Uint8Array(0);
    const cb = this.manifest.chunkBytes;
    const first = Math.floor(offset / cb);
    const last = Math.floor((offset + length - 1) / cb);
    if (first === last) {
      const c = await this.chunk(first);
      const at = offset - first * cb;
      return c.subarray(at, at + length);
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const c = await this.chunk(i);
      const { start } = chunkSpan(this.manifest, i);
      const from = Math.max(offset, start) - start;
      const to = Math.min(offset + length, start + c.length) - start;
      out.set(c.subarray(from, to), start + from - offset);
    }
    return out;
  }

  private chunk(index: number): Promise<Uint8Array> {
    const hit = this.cache.get(index);
    if (hit) {
      // Most recently used goes last.
      this.cache.delete(index);
      this.cache.set(index, hit);
      return hit;
    }
    const p = this.fetch(index);
    this.cache.set(index, p);
    p.catch(() => this.cache.delete(index));
    while (this.cache.size > this.cacheChunks) this.cache.delete(this.cache.keys().next().value as number);
    return p;
  }

  private async fetch(index: number): Promise<Uint8Array> {
    const id = this.manifest.id;
    const rec = this.records.get(index);
    if (!rec || index >= chunkCount(this.manifest)) throw new CorruptChunkError(id, index, 'missing', 'not recorded in the manifest');
    const data = await this.load(index);
    if (data === undefined) throw new CorruptChunkError(id, index, 'missing', 'no stored data');
    if (!(data instanceof Uint8Array)) throw new CorruptChunkError(id, index, 'mismatch', 'the stored record is not bytes');
    const { start, end } = chunkSpan(this.manifest, index);
    if (data.length !== end - start || data.length !== rec.bytes) {
      throw new CorruptChunkError(id, index, 'mismatch', `holds ${data.length} bytes, expected ${end - start}`);
    }
    if (!this.verified.has(index)) {
      if ((await sha256Hex(data)) !== rec.sha256) throw new CorruptChunkError(id, index, 'mismatch');
      this.verified.add(index);
    }
    return data;
  }
}
