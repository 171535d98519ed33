import { useId } from 'react';
import type { LoadedModel, StoredModel } from '../worker/protocol.ts';
import { ContextLength } from './ContextLength.tsx';
import { formatBytes } from '../common/format.ts';
import { deviceBudget, reportedDeviceMemory } from './fit.ts';
import { KvPrecision } from './KvPrecision.tsx';
import { effectiveContext, kvChoice, kvOption, kvTypeLabel, type KvPreference } from './models.ts';
import type { StorageState } from './useStorage.ts';

/** Storage used and free, and whether the browser keeps it under pressure, in plain words. */
function StorageFacts({ storage, onPersist }: { storage: StorageState; onPersist: () => void }) {
  const { usage, quota, persisted } = storage;
  return (
    <div className="storage">
      <h3>Storage in this browser</h3>
      {usage !== undefined && quota !== undefined ? (
        <>
          <meter className="storage-bar" aria-label="Storage used" min={0} max={quota} value={Math.min(usage, quota)} />
          <p className="small">
            {formatBytes(usage)} used · {formatBytes(Math.max(0, quota - usage))} available
          </p>
        </>
      ) : (
        <p className="small muted">This browser does not say how much space is free.</p>
      )}
      {persisted === true ? (
        <p className="small" data-testid="persist-state">
          <span className="ok">Protected:</span> the browser will not delete the models to free space; only you can.
        </p>
      ) : persisted === false ? (
        <>
          <p className="small" data-testid="persist-state">
            <span className="error">Not protected:</span> when the disk runs low, the browser may delete the models without asking, and you
            would have to download them again.
          </p>
          <button type="button" className="secondary small" onClick={onPersist}>
            Ask to keep models
          </button>
          <p className="muted small">The browser decides; installing this app or using it often makes a yes more likely.</p>
        </>
      ) : null}
    </div>
  );
}

/**
 * The models stored in this browser: size and state; Use (with a context length), Resume for an
 * incomplete download, Delete; plus the storage they take.
 */
export function ModelList({
  models,
  current,
  loadingId,
  busy,
  contextLength,
  storage,
  onContextLength,
  kvPreference,
  onKvPreference,
  limits,
  onUse,
  onResume,
  onDelete,
  onAdd,
  onPersist,
}: {
  models: StoredModel[];
  current?: { model: StoredModel; loaded: LoadedModel };
  loadingId?: string;
  busy: boolean;
  contextLength: number;
  storage: StorageState;
  onContextLength: (n: number) => void;
  /** The "KV cache precision" setting. */
  kvPreference: KvPreference;
  onKvPreference: (p: KvPreference) => void;
  /** The adapter's limits (GpuCapabilities.limits). */
  limits?: Readonly<Record<string, number>>;
  onUse: (m: StoredModel) => void;
  onResume: (m: StoredModel & { url: string }) => void;
  onDelete: (m: StoredModel) => void;
  onAdd?: () => void;
  onPersist: () => void;
}) {
  const currentId = current?.model.id;
  const budget = deviceBudget(undefined, reportedDeviceMemory(), limits);
  const listId = useId();
  return (
    <section className="card models" aria-labelledby="models-title">
      <h2 id="models-title">Models</h2>
      {models.length === 0 ? <p className="muted small">None installed yet.</p> : null}
      <ul>
        {models.map((m, i) => {
          const inUse = m.id === currentId;
          // The loaded model can be reloaded with another length; others are loaded with the chosen one.
          const ctx = effectiveContext(contextLength, m.contextLength);
          const kvType = kvChoice(kvPreference, m.kv, ctx, m.bytes, budget);
          const reload = inUse && current && (ctx !== current.loaded.contextLength || kvType !== current.loaded.kvType);
          // a length whose cache needs a larger buffer than the GPU allows cannot load: say why instead of failing later
          const refused = m.complete && m.kv ? kvOption(m.bytes, m.kv, ctx, kvType, budget).fit : undefined;
          const refusal = refused?.verdict === 'will-not-fit' ? `Will not fit at this length: it ${refused.reasons[0]}.` : undefined;
          const refusalId = `${listId}-${i}-refused`;
          return (
            <li key={m.id}>
              <div className="model-name-line">
                <strong>{m.displayName}</strong>
                {m.id === loadingId ? <span className="chip">loading…</span> : inUse ? <span className="chip on">in use</span> : null}
                {!m.complete ? <span className="chip off">incomplete</span> : null}
              </div>
              <div className="muted small">
                {m.complete
                  ? `${formatBytes(m.bytes)}${m.contextLength ? ` · up to ${m.contextLength} tokens` : ''}${inUse && current ? ` · loaded with ${current.loaded.contextLength}, ${kvTypeLabel(current.loaded.kvType)} KV (${formatBytes(current.loaded.kvBytes)})` : ''}`
                  : `${formatBytes(m.storedBytes)} of ${formatBytes(m.bytes)} downloaded.${m.url ? '' : ' Import the file again to finish.'}`}
              </div>
              {m.complete && m.id !== loadingId ? (
                <ContextLength
                  name={`Context length for ${m.displayName}`}
                  value={contextLength}
                  onChange={onContextLength}
                  fileBytes={m.bytes}
                  modelMax={m.contextLength}
                  kv={inUse && current ? current.loaded.kv : m.kv}
                  kvPreference={kvPreference}
                  budget={budget}
                  disabled={busy}
                />
              ) : null}
              {refusal && m.id !== loadingId ? (
                <p id={refusalId} className="error small">
                  {refusal}
                </p>
              ) : null}
              <div className="row">
                {m.complete && m.id !== loadingId && (!inUse || reload) ? (
                  <button
                    type="button"
                    className="secondary small"
                    disabled={busy || refusal !== undefined}
                    aria-describedby={refusal ? refusalId : undefined}
                    onClick={() => onUse(m)}
                    aria-label={`${inUse ? 'Reload' : 'Use'} ${m.displayName}`}
                  >
                    {inUse ? 'Reload' : 'Use'}
                  </button>
                ) : null}
                {!m.complete && m.url ? (
                  <button type="button" className="small" disabled={busy} onClick={() => onResume({ ...m, url: m.url as string })} aria-label={`Resume ${m.displayName}`}>
                    Resume
                  </button>
                ) : null}
                <button
                  type="button"
                  className="danger small"
                  disabled={busy}
                  aria-label={`Delete ${m.displayName}`}
                  onClick={() => {
                    if (confirm(`Delete ${m.displayName} (${formatBytes(m.storedBytes)}) from this browser?`)) onDelete(m);
                  }}
                >
                  Delete
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {models.some((m) => m.complete) ? (
        <KvPrecision
          value={kvPreference}
          onChange={onKvPreference}
          inUse={current ? kvChoice(kvPreference, current.loaded.kv, effectiveContext(contextLength, current.model.contextLength), current.model.bytes, budget) : undefined}
          disabled={busy}
        />
      ) : null}
      {onAdd ? (
        <button type="button" className="secondary" onClick={onAdd} disabled={busy}>
          Add a model
        </button>
      ) : null}
      <StorageFacts storage={storage} onPersist={onPersist} />
    </section>
  );
}
