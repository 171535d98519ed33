import { useEffect, useState } from 'react';
import { createEngineClient, type EngineClient } from '../client/engine-client.ts';
import { createChatEngine, type ChatEngine } from '../client/openai.ts';

/** One engine worker for the page's lifetime (StrictMode mounts twice in dev: reuse it). */
let shared: EngineClient | undefined;

/**
 * The page's engine client. The OpenAI-style handle on it is also published as
 * `window.phi3` so it can be scripted from the console (and by the e2e tests).
 */
export function useEngine(): EngineClient | undefined {
  const [client, setClient] = useState<EngineClient | undefined>(shared);
  useEffect(() => {
    if (!shared) {
      shared = createEngineClient();
      (window as unknown as { phi3: ChatEngine }).phi3 = createChatEngine(shared);
    }
    setClient(shared);
  }, []);
  return client;
}
