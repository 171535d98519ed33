import type { LoadProgress } from '../worker/protocol.ts';
import { formatBytes, formatDuration, formatRate } from './format.ts';

const PHASES: Record<LoadProgress['phase'], string> = {
  checking: 'Checking the model file',
  downloading: 'Downloading',
  verifying: 'Verifying',
  converting: 'Converting for the GPU',
  storing: 'Storing in this browser',
  uploading: 'Uploading weights to the GPU',
  compiling: 'Compiling the shaders',
};

/** A download, import or load under way: a real progress bar and what it is doing. */
export function InstallProgress({ title, progress, note, onCancel }: { title: string; progress?: LoadProgress; note?: string; onCancel?: () => void }) {
  const total = progress?.bytesTotal ?? 0;
  const done = Math.min(progress?.bytesDone ?? 0, total || Infinity);
  const known = total > 0;
  return (
    <section className="card" aria-labelledby="progress-title" aria-busy="true">
      <h2 id="progress-title">{title}</h2>
      <p className="phase" aria-live="polite">
        {progress ? PHASES[progress.phase] : 'Starting'}…
      </p>
      {/* Without a value the bar is indeterminate (size not known yet). */}
      <progress aria-labelledby="progress-title" max={known ? total : undefined} value={known ? done : undefined} />
      <p className="progress-numbers">
        {known ? (
          <>
            {formatBytes(done)} of {formatBytes(total)} ({((100 * done) / total).toFixed(1)}%)
          </>
        ) : progress?.bytesDone ? (
          formatBytes(progress.bytesDone)
        ) : null}
        {progress?.rate ? <> · {formatRate(progress.rate)}</> : null}
        {progress?.etaSeconds !== undefined && progress.etaSeconds > 0 ? <> · about {formatDuration(progress.etaSeconds)} left</> : null}
      </p>
      {progress?.message ? <p className="muted">{progress.message}</p> : null}
      {note ? <p className="muted small">{note}</p> : null}
      {onCancel ? (
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      ) : null}
    </section>
  );
}
