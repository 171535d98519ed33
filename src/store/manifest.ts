/**
 * What the weight store knows about one model: where its bytes came from, how they are cut into
 * chunks, which chunks are stored (each with its SHA-256), and a summary of the GGUF header.
 * Plain data, stored as-is in IndexedDB; the helpers below derive the chunk layout from it.
 */

import { kvBytesPerToken, type ModelConfig } from '../model/config.ts';
import type { GGUFFile } from '../model/gguf-types.ts';

export type ModelSource =
  | { kind: 'url'; url: string; etag?: string; size: number }
  | { kind: 'file'; name: string; size: number; lastModified: number };

export interface ChunkRecord {
  index: number;
  bytes: number;
  /** Lowercase hex SHA-256 of the chunk's bytes, computed before they were stored. */
  sha256: string;
}

export interface HeaderSummary {
  architecture: string;
  /** general.name */
  name?: string;
  ggufVersion: number;
  tensorCount: number;
  /** general.file_type (llama_ftype), e.g. 15 = MOSTLY_Q4_K_M. */
  fileType?: number;
  fileTypeName?: string;
  contextLength: number;
  nLayers: number;
  vocabSize: number;
  /** KV cache bytes per context position (model/config.ts); absent in manifests stored by versions of the app that did not record it. */
  kvBytesPerToken?: number;
  /** KV heads and head size: with nLayers, the KV cache's shape (common/kv.ts KvShape); absent in manifests stored before they were recorded. */
  nKvHeads?: number;
  headDim?: number;
}

export interface ModelManifest {
  id: string;
  displayName?: string;
  source: ModelSource;
  /** Every chunk but the last holds exactly this many bytes of the file. */
  chunkBytes: number;
  /** The chunks written and hashed so far, sorted by index. */
  chunks: ChunkRecord[];
  /** Set when the header has been parsed from the stored bytes and checked. */
  header?: HeaderSummary;
  /** Set last, once every chunk is stored and the header checks out. */
  complete: boolean;
  createdAt: number;
  completedAt?: number;
}

export function chunkCount(m: Pick<ModelManifest, 'source' | 'chunkBytes'>): number {
  return Math.ceil(m.source.size / m.chunkBytes);
}

/** Byte range [start, end) of chunk `index` in the file. */
export function chunkSpan(m: Pick<ModelManifest, 'source' | 'chunkBytes'>, index: number): { start: number; end: number } {
  const start = index * m.chunkBytes;
  return { start, end: Math.min(start + m.chunkBytes, m.source.size) };
}

/** Indices of chunks not yet stored, ascending. */
export function missingChunks(m: ModelManifest): number[] {
  const have = new Set(m.chunks.map((c) => c.index));
  const out: number[] = [];
  for (let i = 0, n = chunkCount(m); i < n; i++) if (!have.has(i)) out.push(i);
  return out;
}

/** Runs of consecutive missing chunks, as inclusive index ranges. */
export function missingRuns(m: ModelManifest): { first: number; last: number }[] {
  const runs: { first: number; last: number }[] = [];
  for (const i of missingChunks(m)) {
    const r = runs[runs.length - 1];
    if (r && r.last === i - 1) r.last = i;
    else runs.push({ first: i, last: i });
  }
  return runs;
}

export function storedByteCount(m: ModelManifest): number {
  return m.chunks.reduce((s, c) => s + c.bytes, 0);
}

/** Names of llama.cpp's `llama_ftype` values that GGUF files of this app's quant types carry. */
const FILE_TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 7: 'Q8_0', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 32: 'BF16',
};

export function headerSummary(file: GGUFFile, cfg: ModelConfig): HeaderSummary {
  const ft = file.metadata.get('general.file_type');
  const fileType = typeof ft === 'number' ? ft : undefined;
  const s: HeaderSummary = {
    architecture: cfg.arch,
    ggufVersion: file.version,
    tensorCount: file.tensors.length,
    contextLength: cfg.contextLength,
    nLayers: cfg.nLayers,
    vocabSize: cfg.vocabSize,
    kvBytesPerToken: kvBytesPerToken(cfg),
    nKvHeads: cfg.nKvHeads,
    headDim: cfg.headDim,
  };
  if (cfg.name !== undefined) s.name = cfg.name;
  if (fileType !== undefined) {
    s.fileType = fileType;
    s.fileTypeName = FILE_TYPE_NAMES[fileType] ?? `file type ${fileType}`;
  }
  return s;
}
