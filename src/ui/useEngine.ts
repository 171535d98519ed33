import { useEffect, useState } from 'react';
import { createEngineClient } from '../client/engine-client.ts';
import { createChatEngine, type ChatEngine } from '../client/openai.ts';

/** One engine worker for the page's lifetime (StrictMode mounts twice in dev: reuse it). */
let shared: ChatEngine | undefined;

/**
 * The page's engine: the OpenAI-style handle on the worker (its raw API is `engine.client.api`).
 * It is also published as `window.phi3` so it can be scripted from the console (and by the e2e tests).
 */
export function useEngine(): ChatEngine | undefined {
  const [engine, setEngine] = useState<ChatEngine | undefined>(shared);
  useEffect(() => {
    if (!shared) {
      shared = createChatEngine(createEngineClient());
      (window as unknown as { phi3: ChatEngine }).phi3 = shared;
    }
    setEngine(shared);
  }, []);
  return engine;
}
