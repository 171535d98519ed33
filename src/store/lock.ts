/**
 * One writer per model: a Web Lock named after the model (shared by every tab of the origin), so
 * two tabs never interleave chunks or restarts of the same download. Without the Web Locks API
 * (Node tests, old browsers) a per-page set does the same within this page.
 */

import { ModelBusyError } from '../common/errors.ts';

interface LockManagerLike {
  request<T>(name: string, options: { ifAvailable: boolean }, cb: (lock: unknown) => Promise<T>): Promise<T>;
}

const held = new Set<string>();

/** Runs `fn` holding the lock of model `id` in the store named `storeName`; throws ModelBusyError if taken. */
export async function withModelLock<T>(storeName: string, id: string, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  const key = JSON.stringify([storeName, id]);
  if (held.has(key)) throw new ModelBusyError(id);
  held.add(key);
  try {
    if (!locks) return await fn();
    return await locks.request(`model-store:${key}`, { ifAvailable: true }, async (lock) => {
      if (!lock) throw new ModelBusyError(id);
      return fn();
    });
  } finally {
    held.delete(key);
  }
}
