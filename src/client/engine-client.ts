/**
 * The app-facing handle on the engine worker. One worker per page; the UI never touches WebGPU.
 */
import * as Comlink from 'comlink';
import type { EngineApi } from '../worker/protocol.ts';

export interface EngineClient {
  api: Comlink.Remote<EngineApi>;
  terminate(): void;
}

export function createEngineClient(): EngineClient {
  const worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module', name: 'phi3-engine' });
  const api = Comlink.wrap<EngineApi>(worker);
  return {
    api,
    terminate() {
      api[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
