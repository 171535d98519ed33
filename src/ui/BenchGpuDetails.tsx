import type { BenchReport } from '../worker/protocol.ts';
import { gpuDetailSections, TIMESTAMP_NOTE } from './bench-gpu-report.ts';

/** What the GPU-detail runs of the benchmark measure; each can be turned off. */
export interface GpuDetailOptions {
  /** Roofline reference over a sweep of launch configurations (else the 64-workgroup read only). */
  sweep: boolean;
  /** Decode at contexts 128, 1K and 4K. */
  contexts: boolean;
  /** Prefill at 128, 512 and 2K tokens. */
  prefill: boolean;
}

export const GPU_DETAIL_DEFAULTS: GpuDetailOptions = { sweep: true, contexts: true, prefill: true };
export const DETAIL_CONTEXTS = [128, 1024, 4096];
export const DETAIL_PREFILL = [128, 512, 2048];
const CONTEXT_DECODE_TOKENS = 8;

/** The benchmark request's fields for these options, and the context length they need loaded. */
export function gpuDetailRequest(o: GpuDetailOptions): { streamSweep: boolean; contexts?: number[]; contextDecodeTokens?: number; prefillLengths?: number[]; contextNeeded: number } {
  return {
    streamSweep: o.sweep,
    ...(o.contexts ? { contexts: DETAIL_CONTEXTS, contextDecodeTokens: CONTEXT_DECODE_TOKENS } : {}),
    ...(o.prefill ? { prefillLengths: DETAIL_PREFILL } : {}),
    contextNeeded: Math.max(0, ...(o.contexts ? DETAIL_CONTEXTS : []), ...(o.prefill ? DETAIL_PREFILL.map((n) => n + 1) : [])),
  };
}

/** The checkboxes of the benchmark form for the GPU-detail runs. */
export function GpuDetailFields({ value, onChange, disabled }: { value: GpuDetailOptions; onChange: (v: GpuDetailOptions) => void; disabled: boolean }) {
  const box = (key: keyof GpuDetailOptions, label: string) => (
    <label>
      <input type="checkbox" checked={value[key]} onChange={(e) => onChange({ ...value, [key]: e.target.checked })} disabled={disabled} /> {label}
    </label>
  );
  return (
    <fieldset className="bench-gpu-options">
      <legend>GPU details</legend>
      {box('sweep', 'Roofline sweep (workgroup counts and shapes)')} {box('contexts', 'Decode at contexts 128, 1K, 4K')}{' '}
      {box('prefill', 'Prefill at 128, 512, 2K tokens')}
    </fieldset>
  );
}

/** The GPU-detail results: roofline sweep, GB/s per role, bubbles, contexts, prefill lengths, compile time. */
export function GpuDetails({ report }: { report: BenchReport }) {
  return (
    <div data-testid="bench-gpu-details">
      <p>{TIMESTAMP_NOTE}</p>
      {gpuDetailSections(report).map((s) =>
        s.head && s.rows ? (
          <table className="checks" key={s.title}>
            <caption>{s.title}</caption>
            <thead>
              <tr>
                {s.head.map((h) => (
                  <th scope="col" key={h}>
                    {h}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {s.rows.map((r, i) => (
                <tr key={i}>
                  {r.map((c, j) => (
                    <td key={j}>{c}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <section key={s.title} aria-label={s.title}>
            <h3>{s.title}</h3>
            {s.lines.map((l) => (
              <p key={l}>{l}</p>
            ))}
          </section>
        ),
      )}
    </div>
  );
}
