/**
 * `navigator.storage`: how much room the site has, and asking the browser not to evict the
 * model silently (DESIGN.md section 5). Both are optional in the platform; tests inject a fake.
 */

import { QuotaExceededError } from '../common/errors.ts';

/** The parts of `StorageManager` we use. */
export interface StorageLike {
  estimate?(): Promise<{ quota?: number; usage?: number }>;
  persist?(): Promise<boolean>;
}

/** `navigator.storage` when the platform has it (browsers, in a secure context). */
export function platformStorage(): StorageLike | undefined {
  return (globalThis as { navigator?: { storage?: StorageLike } }).navigator?.storage;
}

/** Bytes this site may still store, or undefined when the platform cannot tell. */
export async function availableBytes(storage: StorageLike | undefined): Promise<number | undefined> {
  if (!storage?.estimate) return undefined;
  const { quota, usage } = await storage.estimate();
  if (quota === undefined || !Number.isFinite(quota)) return undefined;
  return Math.max(0, quota - (usage ?? 0));
}

/** Throws QuotaExceededError when `neededBytes` more will not fit. Does nothing if it cannot tell. */
export async function checkQuota(storage: StorageLike | undefined, neededBytes: number, what?: string): Promise<void> {
  const available = await availableBytes(storage);
  if (available !== undefined && neededBytes > available) throw new QuotaExceededError(neededBytes, available, what);
}

/**
 * Asks the browser to keep our data under storage pressure. Returns its answer, or undefined
 * when the platform has no `persist()`. A refusal is not an error: the model still works, it may
 * just be evicted when the disk runs low.
 */
export async function requestPersistence(storage: StorageLike | undefined): Promise<boolean | undefined> {
  if (!storage?.persist) return undefined;
  try {
    return await storage.persist();
  } catch {
    return false;
  }
}
