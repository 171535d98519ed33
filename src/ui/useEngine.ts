import { useEffect, useState } from 'react';
import { createEngineClient, type EngineClient } from '../client/engine-client.ts';

/** One engine worker for the page's lifetime (StrictMode mounts twice in dev: reuse it). */
let shared: EngineClient | undefined;

export function useEngine(): EngineClient | undefined {
  const [client, setClient] = useState<EngineClient | undefined>(shared);
  useEffect(() => {
    if (!shared) shared = createEngineClient();
    setClient(shared);
  }, []);
  return client;
}
