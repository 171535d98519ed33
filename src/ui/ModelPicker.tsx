import { useEffect, useId, useState, type DragEvent, type FormEvent } from 'react';
import type { InstallSource } from '../worker/protocol.ts';
import { ContextLength } from './ContextLength.tsx';
import { modelUrlProblem } from './csp.ts';
import { formatBytes } from '../common/format.ts';
import { DEFAULT_MODEL_CARD as M, effectiveContext, gpuBytesNeeded } from './models.ts';

/** Free space the browser will give this origin, when it says. */
function useStorageEstimate(): { quota: number; usage: number } | undefined {
  const [est, setEst] = useState<{ quota: number; usage: number } | undefined>();
  useEffect(() => {
    let live = true;
    navigator.storage
      ?.estimate?.()
      .then((e) => live && e.quota !== undefined && setEst({ quota: e.quota, usage: e.usage ?? 0 }))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return est;
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
 * The three ways to get a model: the default Phi-3 mini download, any GGUF by URL
 * (prefilled from `?model=`), or a local .gguf file (picked or dropped; fully offline).
 */
export function ModelPicker({
  onInstall,
  onCancel,
  contextLength,
  onContextLength,
}: {
  onInstall: (source: InstallSource, label: string) => void;
  onCancel?: () => void;
  contextLength: number;
  onContextLength: (n: number) => void;
}) {
  const [url, setUrl] = useState(() => new URLSearchParams(location.search).get('model') ?? '');
  const [urlError, setUrlError] = useState<string | undefined>();
  const [dragging, setDragging] = useState(false);
  const [fileError, setFileError] = useState<string | undefined>();
  const est = useStorageEstimate();
  const ids = { url: useId(), urlHint: useId(), urlError: useId(), file: useId(), fileHint: useId() };
  const ctx = effectiveContext(contextLength, M.contextLength);
  const free = est ? est.quota - est.usage : undefined;

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

      <article className="option" aria-labelledby="default-title">
        <h3 id="default-title">
          {M.displayName} <span className="chip">{M.quant}</span>
        </h3>
        <dl className="facts">
          <dt>Download</dt>
          <dd>{formatBytes(M.approxBytes)}</dd>
          {M.kvBytesPerToken ? (
            <>
              <dt>GPU memory</dt>
              <dd>
                about {formatBytes(gpuBytesNeeded(M.approxBytes, ctx, M.kvBytesPerToken))} (weights and a {ctx}-token context)
              </dd>
            </>
          ) : null}
          <dt>License</dt>
          <dd>
            <a href={M.homepage} target="_blank" rel="noreferrer">
              {M.license}
            </a>
          </dd>
          {free !== undefined ? (
            <>
              <dt>Free space here</dt>
              <dd className={free < M.approxBytes ? 'error' : undefined}>
                {formatBytes(free)}
                {free < M.approxBytes ? ': not enough for this model' : ''}
              </dd>
            </>
          ) : null}
        </dl>
        <ContextLength value={contextLength} onChange={onContextLength} fileBytes={M.approxBytes} modelMax={M.contextLength} kvBytesPerToken={M.kvBytesPerToken} />
        <p className="muted small context-hint">A longer context remembers more of the conversation and takes more GPU memory. You can change it later.</p>
        <button type="button" onClick={() => onInstall({ kind: 'url', url: M.url }, `Downloading ${M.displayName}`)}>
          Download
        </button>
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
