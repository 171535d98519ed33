import type { TuningReport } from '../worker/protocol.ts';

const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x < 0.1 ? `${(x * 1000).toFixed(1)} µs` : `${x.toFixed(3)} ms`);

/** One line on where the plan came from: the table, tuned at this load, or reused from an earlier tuning. */
export function tuningSummary(t: TuningReport): string {
  if (t.source === 'table') return 'Hand-tuned table for this kind of adapter (not tuned on this GPU)';
  const took = t.tuneMs === undefined ? '' : ` in ${(t.tuneMs / 1000).toFixed(1)} s`;
  const timer = t.timer === 'timestamp' ? 'GPU timestamps' : 'wall time';
  if (t.savedAt !== undefined) return `Tuned on this GPU${took} (${timer}), saved ${new Date(t.savedAt).toLocaleString()}`;
  return `Tuned on this GPU during this load${took} (${timer})`;
}

/** Per role: the choice, its time and the reference's, as table rows. */
export function tuningRows(t: TuningReport): [string, string, string, string][] {
  return t.roles.map((r) => [
    r.role,
    r.chosen,
    ms(r.ms),
    r.ms !== undefined && r.referenceMs !== undefined ? `${(r.referenceMs / r.ms).toFixed(2)}x` : '—',
  ]);
}

/** The Markdown section of the copied report. */
export function tuningMarkdown(t: TuningReport): string {
  const lines = ['### Kernel plan', '', tuningSummary(t), '', '| role | choice | time | vs table |', '|---|---|---|---|'];
  for (const row of tuningRows(t)) lines.push(`| ${row.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
  if (t.dropped.length) {
    lines.push('', 'Dropped candidates (failed to compile, or disagreed with the reference; never used):', '');
    for (const d of t.dropped) lines.push(`- ${d.role} ${d.label}: ${d.reason}`);
  }
  return lines.join('\n');
}
