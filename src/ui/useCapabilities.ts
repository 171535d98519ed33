import { useEffect, useState } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import type { CapabilitiesResult } from '../worker/protocol.ts';
import { errorText } from './format.ts';

/** What the engine worker can get from WebGPU; undefined while it is asking. */
export function useCapabilities(engine: ChatEngine | undefined): CapabilitiesResult | undefined {
  const [caps, setCaps] = useState<CapabilitiesResult | undefined>();
  useEffect(() => {
    if (!engine) return;
    let live = true;
    engine.client.api
      .capabilities()
      .then((c) => live && setCaps(c))
      .catch((e: unknown) => live && setCaps({ ok: false, reason: 'error', message: errorText(e) }));
    return () => {
      live = false;
    };
  }, [engine]);
  return caps;
}
