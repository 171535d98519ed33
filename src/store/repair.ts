/**
 * Repairing a stored model: re-hash every chunk, then re-download only the bad or missing ones
 * (downloadModel fetches each run of missing chunks with one Range request for exactly its bytes).
 */

import { downloadLocked } from './download.ts';
import type { DownloadOptions, DownloadResult } from './download.ts';
import { CorruptChunkError, ModelNotStoredError } from '../common/errors.ts';
import { withModelLock } from './lock.ts';

export interface RepairOptions extends Omit<DownloadOptions, 'url' | 'chunkBytes' | 'expectedBytes' | 'displayName'> {
  /** Progress of the re-hash pass, as chunks done of total. */
  onVerify?: (done: number, total: number) => void;
}

export interface RepairResult extends DownloadResult {
  /** Chunks that were corrupt or missing and were fetched again. */
  repaired: number[];
}

/**
 * Re-hashes every chunk and re-downloads only the bad or missing ones, one Range request per
 * run of them. A model imported from a local file cannot be fetched again: for it this throws the
 * CorruptChunkError of its first bad chunk (the user has to import the file again).
 */
export function repairModel(o: RepairOptions): Promise<RepairResult> {
  return withModelLock(o.store.name, o.id, () => repairLocked(o));
}

async function repairLocked(o: RepairOptions): Promise<RepairResult> {
  const m = await o.store.getManifest(o.id);
  if (!m) throw new ModelNotStoredError(o.id);
  const report = await o.store.verify(o.id, o.onVerify);
  if (report.ok && m.complete) {
    return { manifest: m, persisted: undefined, bytesFetched: 0, restarts: [], alreadyComplete: true, repaired: [] };
  }
  if (m.source.kind !== 'url') {
    if (report.ok) throw new ModelNotStoredError(o.id, `was not completely imported from "${m.source.name}"; import the file again`);
    throw new CorruptChunkError(o.id, report.bad[0], report.corrupt.includes(report.bad[0]) ? 'mismatch' : 'missing', `imported from "${m.source.name}"`);
  }
  await o.store.forgetChunks(o.id, report.bad);
  const r = await downloadLocked({ ...o, url: m.source.url, displayName: m.displayName });
  return { ...r, repaired: report.bad };
}
