import { useCallback, useEffect, useState } from 'react';

export interface StorageState {
  /** Bytes this origin uses and may use (`navigator.storage.estimate()`), when the browser says. */
  usage?: number;
  quota?: number;
  /** Whether the browser has promised not to evict this origin's data (`persisted()`). */
  persisted?: boolean;
}

/**
 * Storage used and available, and whether it is persistent; re-read whenever `version` changes
 * (after an install or a delete). `persist()` asks the browser to keep the models under storage
 * pressure; browsers may grant it silently (Chrome, by engagement or an installed app) or refuse.
 */
export function useStorage(version: unknown): StorageState & { requestPersist: () => Promise<void> } {
  const [state, setState] = useState<StorageState>({});

  const read = useCallback(async () => {
    const s = navigator.storage;
    const [est, persisted] = await Promise.all([s?.estimate?.().catch(() => undefined), s?.persisted?.().catch(() => undefined)]);
    setState({ usage: est?.usage, quota: est?.quota, persisted });
  }, []);

  useEffect(() => {
    void read();
  }, [read, version]);

  const requestPersist = useCallback(async () => {
    await navigator.storage?.persist?.().catch(() => false);
    await read();
  }, [read]);

  return { ...state, requestPersist };
}
