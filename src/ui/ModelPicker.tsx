import { useId, useState, type DragEvent, type FormEvent } from 'react';
import type { InstallSource, StoredModel } from '../worker/protocol.ts';
import { DEFAULT_MODEL, MODEL_REGISTRY, type ModelEntry } from '../common/catalog.ts';
import { ContextLength } from './ContextLength.tsx';
import { modelUrlProblem } from './csp.ts';
import { formatBytes } from '../common/format.ts';
import { checkFit, deviceBudget, reportedDeviceMemory, type DeviceBudget, type Fit } from './fit.ts';
import { effectiveContext, gpuBytesNeeded, kvChoice, kvTypeLabel, type KvPreference } from './models.ts';
import { KvPrecision } from './KvPrecision.tsx';
import { kvBytesPerToken, kvLayerBytes, type KvType } from '../common/kv.ts';
import type { StorageState } from './useStorage.ts';

/** One registry entry as the picker shows it: what it needs at the chosen context, and whether that fits. */
interface Offer {
  entry: ModelEntry;
  /** This entry in the store, complete or paused. */
  stored?: StoredModel;
  approxBytes: number;
  contextLength: number;
  /** The KV type a load would use (src/ui/models.ts kvChoice). */
  kvType: KvType;
  gpuBytes?: number;
  fit: Fit;
}

function offer(entry: ModelEntry, stored: StoredModel | undefined, wanted: number, pref: KvPreference, budget: DeviceBudget): Offer {
  const approxBytes = entry.bytes ?? entry.approxBytes ?? 0;
  const contextLength = effectiveContext(wanted, entry.contextLength);
  const kvType = kvChoice(pref, entry.kv, contextLength, approxBytes, budget);
  const gpuBytes = entry.kv ? gpuBytesNeeded(approxBytes, contextLength, kvBytesPerToken(entry.kv, kvType)) : undefined;
  // A stored model needs no more room; a paused one needs the rest of its file.
  const downloadBytes = stored?.complete ? 0 : Math.max(0, (stored?.bytes || approxBytes) - (stored?.storedBytes ?? 0));
  const layerBytes = entry.kv ? kvLayerBytes(entry.kv, contextLength, kvType) : undefined;
  const fit = checkFit({ downloadBytes, gpuBytes: gpuBytes ?? 0, contextLength, kvLayerBytes: layerBytes }, budget);
  return { entry, stored, approxBytes, contextLength, kvType, gpuBytes, fit };
}

/** "4K", "128K": context lengths as model names and cards give them. */
function shortContext(n: number): string {
  return n >= 1024 && n % 1024 === 0 ? `${n / 1024}K` : String(n);
}

/** The short mark beside a model in the list. */
function fitMark(o: Offer): { text: string; className: string } | undefined {
  if (o.fit.verdict === 'will-not-fit') return { text: `Will not fit: ${o.fit.reasons[0]}`, className: 'error' };
  if (o.fit.verdict === 'may-not-fit') return { text: `May not fit: ${o.fit.reasons[0]}`, className: 'warn-text' };
  if (o.stored?.complete) return { text: 'Stored in this browser', className: 'ok' };
  if (o.stored) return { text: `Paused at ${formatBytes(o.stored.storedBytes)}`, className: 'muted' };
  return undefined;
}

function urlFileName(url: string): string {
  try {
    const last = new URL(url, location.href).pathname.split('/').filter(Boolean).pop();
    return last ? decodeURIComponent(last) : url;
  } catch {
    return url;
  }
}

/**
 * The ways to get a model: one of the Phi family (the registry), each shown with its size,
 * context, licence and the GPU memory it needs at the chosen context, checked against this device
 * first (src/ui/fit.ts: a model that cannot be stored is refused before any byte is downloaded);
 * any GGUF by URL (prefilled from `?model=`); or a local .gguf file (picked or dropped; offline).
 */
export function ModelPicker({
  onInstall,
  onUse,
  onCancel,
  contextLength,
  onContextLength,
  kvPreference,
  onKvPreference,
  stored,
  storage,
  limits,
}: {
  onInstall: (source: InstallSource, label: string) => void;
  /** Loads a model that is already stored. */
  onUse: (m: StoredModel) => void;
  onCancel?: () => void;
  contextLength: number;
  onContextLength: (n: number) => void;
  /** The "KV cache precision" setting. */
  kvPreference: KvPreference;
  onKvPreference: (p: KvPreference) => void;
  /** The models in the weight store (complete or paused). */
  stored: readonly StoredModel[];
  storage: StorageState;
  /** The adapter's limits (GpuCapabilities.limits). */
  limits?: Readonly<Record<string, number>>;
}) {
  const [url, setUrl] = useState(() => new URLSearchParams(location.search).get('model') ?? '');
  const [urlError, setUrlError] = useState<string | undefined>();
  const [dragging, setDragging] = useState(false);
  const [fileError, setFileError] = useState<string | undefined>();
  // The default, unless it is stored already: then the first model that is not.
  const [chosenId, setChosenId] = useState(() => {
    const have = (e: ModelEntry) => stored.some((m) => m.id === e.id && m.complete);
    return (have(DEFAULT_MODEL) ? MODEL_REGISTRY.find((e) => !have(e)) : undefined)?.id ?? DEFAULT_MODEL.id;
  });
  const ids = { url: useId(), urlHint: useId(), urlError: useId(), file: useId(), fileHint: useId(), family: useId(), fit: useId() };
  const budget = deviceBudget(storage, reportedDeviceMemory(), limits);
  const offers = MODEL_REGISTRY.map((e) => offer(e, stored.find((m) => m.id === e.id), contextLength, kvPreference, budget));
  const chosen = offers.find((o) => o.entry.id === chosenId) ?? offers[0];
  const { entry: M, fit } = chosen;

  const submitUrl = (e: FormEvent) => {
    e.preventDefault();
    const u = url.trim();
    if (!u) return;
    // The page's security policy decides which hosts the worker may fetch from: say so now, not as "Failed to fetch" later.
    const problem = modelUrlProblem(u, location.href);
    setUrlError(problem);
    if (!problem) onInstall({ kind: 'url', url: u }, `Downloading ${urlFileName(u)}`);
  };
  const takeFile = (file: File | undefined) => {
    if (!file) return;
    if (!file.name.toLowerCase().endsWith('.gguf')) {
      setFileError(`"${file.name}" is not a .gguf file.`);
      return;
    }
    setFileError(undefined);
    onInstall({ kind: 'file', file }, `Importing ${file.name}`);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    takeFile(e.dataTransfer.files[0]);
  };
  const download = () => onInstall({ kind: 'url', url: M.url, displayName: M.displayName, expectedBytes: M.bytes }, `Downloading ${M.displayName}`);

  return (
    <section className="card picker" aria-labelledby="pick-title">
      <div className="card-head">
        <h2 id="pick-title">Choose a model</h2>
        {onCancel ? (
          <button type="button" className="secondary" onClick={onCancel}>
            Back to chat
          </button>
        ) : null}
      </div>
      <p className="muted">
        The model is downloaded once and kept in this browser. After that, chatting works offline and nothing you type leaves this
        device.
      </p>

      <fieldset className="option family">
        <legend>Phi models</legend>
        <ul className="family-list">
          {offers.map((o) => {
            const id = `${ids.family}-${o.entry.id}`;
            const mark = fitMark(o);
            return (
              <li key={o.entry.id} className={o.entry.id === chosen.entry.id ? 'chosen' : undefined}>
                <input
                  type="radio"
                  id={id}
                  name={ids.family}
                  value={o.entry.id}
                  checked={o.entry.id === chosen.entry.id}
                  onChange={() => setChosenId(o.entry.id)}
                  aria-describedby={`${id}-facts${mark ? ` ${id}-fit` : ''}`}
                />
                <label htmlFor={id}>{o.entry.displayName}</label>
                <span id={`${id}-facts`} className="muted small family-facts">
                  about {formatBytes(o.approxBytes)} · {shortContext(o.entry.contextLength ?? 0)} context · {o.entry.license}
                  {o.gpuBytes !== undefined ? ` · about ${formatBytes(o.gpuBytes)} of GPU memory at ${o.contextLength} tokens (${kvTypeLabel(o.kvType)} KV)` : ''}
                </span>
                {mark ? (
                  <span id={`${id}-fit`} className={`small family-fit ${mark.className}`}>
                    {mark.text}
                  </span>
                ) : null}
              </li>
            );
          })}
        </ul>
      </fieldset>

      <article className="option" aria-labelledby="chosen-title">
        <h3 id="chosen-title">
          {M.displayName} <span className="chip">{M.quant}</span>
        </h3>
        {M.description ? <p className="model-description">{M.description}</p> : null}
        <dl className="facts">
          <dt>Download</dt>
          <dd>about {formatBytes(chosen.approxBytes)}</dd>
          <dt>Context</dt>
          <dd>up to {M.contextLength} tokens</dd>
          {chosen.gpuBytes !== undefined ? (
            <>
              <dt>GPU memory</dt>
              <dd>
                about {formatBytes(chosen.gpuBytes)} (weights and a {chosen.contextLength}-token context)
              </dd>
              <dt>KV cache</dt>
              <dd>{kvTypeLabel(chosen.kvType)}</dd>
            </>
          ) : null}
          <dt>License</dt>
          <dd>
            <a href={M.homepage ?? M.url} target="_blank" rel="noreferrer">
              {M.license ?? 'see the model page'}
            </a>
          </dd>
          {budget.freeStorage !== undefined ? (
            <>
              <dt>Free space here</dt>
              <dd>{formatBytes(budget.freeStorage)}</dd>
            </>
          ) : null}
        </dl>
        <ContextLength
          value={contextLength}
          onChange={onContextLength}
          fileBytes={chosen.approxBytes}
          modelMax={M.contextLength}
          kv={M.kv}
          kvPreference={kvPreference}
          budget={budget}
        />
        <p className="muted small context-hint">A longer context remembers more of the conversation and takes more GPU memory. You can change it later.</p>
        <KvPrecision value={kvPreference} onChange={onKvPreference} inUse={M.kv ? chosen.kvType : undefined} />
        {fit.verdict === 'will-not-fit' ? (
          <div id={ids.fit} className="fit-note refused">
            <p>
              <strong>Will not fit this device:</strong> it {fit.reasons.join('; and it ')}.
            </p>
            <p className="small">{fit.advice}</p>
          </div>
        ) : fit.verdict === 'may-not-fit' ? (
          <div id={ids.fit} className="fit-note">
            <p>
              <strong>May not fit this device:</strong> it {fit.reasons.join('; and it ')}.
            </p>
            <p className="small">{fit.advice}</p>
          </div>
        ) : null}
        {chosen.stored?.complete ? (
          <button
            type="button"
            disabled={fit.verdict === 'will-not-fit'}
            aria-describedby={fit.verdict === 'fits' ? undefined : ids.fit}
            onClick={() => onUse(chosen.stored as StoredModel)}
          >
            Use this model
          </button>
        ) : (
          <button type="button" disabled={fit.verdict === 'will-not-fit'} aria-describedby={fit.verdict === 'fits' ? undefined : ids.fit} onClick={download}>
            {chosen.stored ? 'Resume download' : fit.verdict === 'may-not-fit' ? 'Download anyway' : 'Download'}
          </button>
        )}
      </article>

      <form className="option" onSubmit={submitUrl} aria-labelledby="url-title">
        <h3 id="url-title">Use a model URL</h3>
        <label htmlFor={ids.url}>Model URL</label>
        <div className="row">
          <input
            id={ids.url}
            type="url"
            inputMode="url"
            required
            placeholder="https://…/model.gguf"
            aria-describedby={urlError ? `${ids.urlError} ${ids.urlHint}` : ids.urlHint}
            aria-invalid={urlError ? true : undefined}
            value={url}
            onChange={(e) => {
              setUrl(e.target.value);
              setUrlError(undefined);
            }}
          />
          <button type="submit">Download from URL</button>
        </div>
        {urlError ? (
          <p id={ids.urlError} role="alert" className="error small">
            {urlError}
          </p>
        ) : null}
        <p id={ids.urlHint} className="muted small">
          Any Phi-3 architecture GGUF from Hugging Face or from this computer (localhost), on a server that allows Range requests and
          cross-origin reads. It loads with the context length chosen above.
        </p>
      </form>

      <div className="option">
        <h3 id="file-title">Import a .gguf file</h3>
        <label
          className={dragging ? 'dropzone over' : 'dropzone'}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <span>Drop a .gguf file here, or</span>
          <input
            type="file"
            accept=".gguf"
            aria-label="Import a .gguf file"
            aria-describedby={ids.fileHint}
            onChange={(e) => takeFile(e.target.files?.[0])}
          />
        </label>
        <p id={ids.fileHint} className="muted small">
          Works without any network: the file is converted and stored in this browser.
        </p>
        {fileError ? (
          <p role="alert" className="error">
            {fileError}
          </p>
        ) : null}
      </div>
    </section>
  );
}
