import type { StoredModel } from '../worker/protocol.ts';
import { formatBytes } from './format.ts';

/** The models stored in this browser, with size, state, and Use / Delete. */
export function ModelList({
  models,
  currentId,
  loadingId,
  busy,
  onUse,
  onDelete,
  onAdd,
}: {
  models: StoredModel[];
  currentId?: string;
  loadingId?: string;
  busy: boolean;
  onUse: (m: StoredModel) => void;
  onDelete: (m: StoredModel) => void;
  onAdd?: () => void;
}) {
  return (
    <section className="card models" aria-labelledby="models-title">
      <h2 id="models-title">Models</h2>
      {models.length === 0 ? <p className="muted small">None installed yet.</p> : null}
      <ul>
        {models.map((m) => (
          <li key={m.id}>
            <div className="model-name-line">
              <strong>{m.displayName}</strong>
              {m.id === loadingId ? <span className="chip">loading…</span> : m.id === currentId ? <span className="chip on">in use</span> : null}
            </div>
            <div className="muted small">
              {m.complete
                ? formatBytes(m.bytes)
                : `Incomplete: ${formatBytes(m.storedBytes)} of ${formatBytes(m.bytes)}. Download it again to resume.`}
            </div>
            <div className="row">
              {m.complete && m.id !== currentId && m.id !== loadingId ? (
                <button type="button" className="secondary small" disabled={busy} onClick={() => onUse(m)} aria-label={`Use ${m.displayName}`}>
                  Use
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
        ))}
      </ul>
      {onAdd ? (
        <button type="button" className="secondary" onClick={onAdd} disabled={busy}>
          Add a model
        </button>
      ) : null}
    </section>
  );
}
