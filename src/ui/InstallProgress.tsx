import type { LoadProgress } from '../worker/protocol.ts';
import { formatBytes } from '../common/format.ts';
import { formatDuration, formatRate } from './format.ts';

const PHASES: Record<LoadProgress['phase'], string> = {
  checking: 'Checking the model file',
  downloading: 'Downloading',
  verifying: 'Verifying',
  converting: 'Converting for the GPU',
  storing: 'Storing in this browser',
  uploading: 'Uploading weights to the GPU',
  tuning: 'Tuning for your GPU',
  compiling: 'Compiling the shaders',
};

/** The phase in words; tuning counts its kernel roles ("Tuning for your GPU, 5 of 11"). */
export function phaseText(p: LoadProgress): string {
  if (p.phase === 'tuning' && p.steps) return `${PHASES.tuning}, ${p.step ?? 0} of ${p.steps}`;
  return PHASES[p.phase];
}

/**
 * A download, import or load under way: a real progress bar and what it is doing. A download has
 * Pause (keeps what is stored) and Cancel (deletes it); a paused one has Resume and Cancel.
 */
export function InstallProgress({
  title,
  progress,
  note,
  paused = false,
  onPause,
  onResume,
  onCancel,
  onBack,
}: {
  title: string;
  progress?: LoadProgress;
  note?: string;
  paused?: boolean;
  onPause?: () => void;
  onResume?: () => void;
  onCancel?: () => void;
  /** Leave a paused download for later (it stays listed as incomplete, with Resume). */
  onBack?: () => void;
}) {
  const steps = progress?.phase === 'tuning' ? progress.steps : undefined;
  const total = progress?.bytesTotal ?? 0;
  const done = Math.min(progress?.bytesDone ?? 0, total || Infinity);
  const known = total > 0;
  return (
    <section className="card install-progress" aria-labelledby="progress-title" aria-busy={!paused}>
      <h2 id="progress-title">{title}</h2>
      <p className="phase" aria-live="polite">
        {paused ? 'Paused' : <>{progress ? phaseText(progress) : 'Starting'}…</>}
      </p>
      {/* Without a value the bar is indeterminate (size not known yet). */}
      {steps ? (
        <progress aria-labelledby="progress-title" max={steps} value={progress?.step ?? 0} />
      ) : (
        <progress aria-labelledby="progress-title" max={known ? total : undefined} value={known ? done : undefined} />
      )}
      <p className="progress-numbers">
        {known ? (
          <>
            {formatBytes(done)} of {formatBytes(total)} ({((100 * done) / total).toFixed(1)}%)
          </>
        ) : progress?.bytesDone ? (
          formatBytes(progress.bytesDone)
        ) : null}
        {!paused && progress?.rate ? <> · {formatRate(progress.rate)}</> : null}
        {!paused && progress?.etaSeconds !== undefined && progress.etaSeconds > 0 ? <> · about {formatDuration(progress.etaSeconds)} left</> : null}
      </p>
      {progress?.message ? <p className="muted">{progress.message}</p> : null}
      {note ? <p className="muted small">{note}</p> : null}
      {onPause || onResume || onCancel || onBack ? (
        <div className="row">
          {onPause && !paused ? (
            <button type="button" className="secondary" onClick={onPause}>
              Pause
            </button>
          ) : null}
          {onResume && paused ? (
            <button type="button" onClick={onResume}>
              Resume
            </button>
          ) : null}
          {onCancel ? (
            <button type="button" className="danger" onClick={onCancel}>
              {onPause || onResume ? 'Cancel and delete' : 'Cancel'}
            </button>
          ) : null}
          {onBack ? (
            <button type="button" className="secondary" onClick={onBack}>
              Back to chat
            </button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
