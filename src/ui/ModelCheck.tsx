import { useEffect, useState } from 'react';
import type { EngineClient } from '../client/engine-client.ts';
import type { ModelCheckResult } from '../worker/protocol.ts';
import { errorText } from './format.ts';

/**
 * Diagnostics: `?check-model=<gguf url>&prompt-ids=1,2,3&n=32` loads the model in the worker,
 * generates greedily and shows the tokens with their top logprobs as JSON (used by the e2e test
 * that compares the browser engine with llama.cpp).
 */
export function ModelCheck({ engine }: { engine: EngineClient }) {
  const [result, setResult] = useState<ModelCheckResult | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    const q = new URLSearchParams(location.search);
    const url = q.get('check-model') ?? '';
    const promptIds = (q.get('prompt-ids') ?? '1').split(',').map(Number);
    engine.api
      .checkModel({
        url,
        promptIds,
        maxTokens: Number(q.get('n') ?? 16),
        topLogprobs: Number(q.get('top') ?? 5),
        contextLength: Number(q.get('ctx') ?? 256),
        slidingWindow: q.get('swa') !== '0',
      })
      .then(setResult, (e: unknown) => setError(errorText(e)));
  }, [engine]);
  return (
    <section className="card" aria-labelledby="check-title">
      <h2 id="check-title">Model check</h2>
      {error ? (
        <p role="alert" className="error" data-testid="check-error">
          {error}
        </p>
      ) : !result ? (
        <p aria-busy="true">Loading the model and generating…</p>
      ) : (
        <pre data-testid="check-result" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
          {JSON.stringify(result)}
        </pre>
      )}
    </section>
  );
}
