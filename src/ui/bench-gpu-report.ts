/**
 * The benchmark's GPU details as sections (a title, lines of text, an optional table): the
 * roofline sweep, GB/s per GEMV role, dispatch bubbles, decode at longer contexts, prefill
 * lengths with GFLOP/s per GEMM, compile time. The Benchmark screen renders them as tables
 * (BenchGpuDetails.tsx), the copied report and `npm run bench` as Markdown (gpuDetailLines).
 */
import type { BenchMeasurement } from '../worker/protocol.ts';

export interface ReportSection {
  title: string;
  lines: string[];
  head?: string[];
  rows?: string[][];
}

/** Chrome quantizes timestamp queries unless the developer features flag is on. */
export const TIMESTAMP_NOTE =
  'Chrome rounds GPU timestamps to 100 µs unless WebGPU developer features are enabled (chrome://flags/#enable-webgpu-developer-features): per-kernel and per-role times below that are coarse.';

const f = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const mb = (bytes: number | undefined) => (bytes === undefined ? '—' : (bytes / 1e6).toFixed(2));
const cfg = (c: { workgroups: number; workgroupSize: number; vec4PerIteration: number; blocked: boolean }) =>
  `${c.workgroups} workgroups of ${c.workgroupSize} threads, ${c.vec4PerIteration} vec4 load(s) per iteration, ${c.blocked ? 'a block per workgroup' : 'grid stride'}`;

export function gpuDetailSections(m: BenchMeasurement): ReportSection[] {
  const out: ReportSection[] = [];
  const s = m.streamSweep;
  const b = m.streamBest;
  if (s && b) {
    out.push({
      title: 'Roofline reference (streaming read)',
      lines: [
        `Sweep: ${s.trials.length} configurations, fastest ${cfg(s.best)} at ${f(s.best.GBps, 3)} GB/s.`,
        `Workgroups tried: ${s.workgroupsTried.join(', ')}; shapes (threads x loads per iteration): ${s.shapesTried.map((x) => `${x.workgroupSize} x ${x.vec4PerIteration}${x.blocked ? ' blocked' : ''}`).join(', ')}; ${mb(s.bytesPerTrial)} MB per timed read; sweep ${f(s.sweepMs / 1000, 1)} s${s.notTried ? ` (stopped at its time budget: ${s.notTried} configurations not tried)` : ''}.`,
        `Medians of ${m.rooflineRounds} rounds interleaved with the decode runs: ${(m.streamCandidates ?? []).map((c) => `${cfg(c)} ${f(c.GBps, 3)} GB/s`).join('; ')}.`,
        `Reference: ${cfg(b)}, ${f(m.streamGBps, 3)} GB/s (the original 64-workgroup read: ${f(m.streamGBpsLegacy64, 3)} GB/s).`,
        `Roofline fraction (decode / streaming read): ${f(m.rooflineFraction, 3)} (against the 64-workgroup read: ${f(m.rooflineFractionLegacy64, 3)}).`,
      ],
    });
  }
  if (m.profile?.roles) {
    out.push({
      title: `GB/s per GEMV role (${m.profile.steps} profiled decode steps)`,
      lines: [],
      head: ['role', 'dispatches/step', 'ms/step', 'weight MB', 'GB/s', 'share of GPU time'],
      rows: m.profile.roles.map((r) => [r.name, String(r.dispatchesPerStep), f(r.msPerStep, 3), mb(r.bytes), f(r.GBps, 2), `${f(100 * r.fraction, 1)}%`]),
    });
  } else if (m.profile?.rolesSkipped) {
    out.push({ title: 'GB/s per GEMV role', lines: [`Not attributed: ${m.profile.rolesSkipped}.`] });
  }
  if (m.bubbles) {
    const x = m.bubbles;
    out.push({
      title: 'Dispatch bubbles (decode)',
      lines: [
        `Wall ${f(x.wallMsPerToken, 3)} ms per token, kernels ${f(x.gpuMsPerToken, 3)} ms: ${f(x.bubbleMsPerToken, 3)} ms (${f(100 * x.bubbleFraction, 1)}%) between or outside kernels.`,
        ...(x.bubbleMsPerToken < 0 ? ['The kernels took longer than the step: timed one pass per dispatch, they cost more than in the timed run on this driver (or the machine was busier).'] : []),
      ],
    });
  }
  if (m.contextDecode?.length) {
    out.push({
      title: 'Decode at longer contexts',
      lines: [],
      head: ['context', 'tokens', 'tok/s', 'ms/token', 'KV MB/token', 'GB/s (weights + KV)'],
      rows: m.contextDecode.map((c) =>
        c.skipped
          ? [String(c.context), '—', `skipped: ${c.skipped}`, '', '', '']
          : [c.requested ? `${c.context} (asked ${c.requested})` : String(c.context), String(c.decodeTokens), f(c.decodeTokPerS, 3), f(c.msPerToken, 2), mb(c.kvBytesPerToken), f(c.GBps, 3)],
      ),
    });
  }
  if (m.prefillRuns?.length) {
    const gemm = (p: NonNullable<BenchMeasurement['prefillRuns']>[number]) =>
      p.gemms ? p.gemms.map((g) => `${g.name} ${g.rows}x${g.k} ${f(g.GFLOPs, 1)}`).join(', ') : `— (${p.gemmsSkipped ?? 'not measured'})`;
    out.push({
      title: 'Prefill by prompt length',
      lines: [],
      head: ['tokens', 'ms', 'tok/s', 'GFLOP/s per GEMM (rows x k)'],
      rows: m.prefillRuns.map((p) => (p.skipped ? [String(p.tokens), '—', `skipped: ${p.skipped}`, ''] : [String(p.tokens), f(p.ms, 0), f(p.tokPerS, 2), gemm(p)])),
    });
  }
  out.push({
    title: 'Pipeline compile time',
    lines: [m.compileMs === undefined ? 'Not measured (the engine was not loaded by Engine.load).' : `${f(m.compileMs, 0)} ms from the start of the background compiles to the last one done (overlapping the weight upload).`],
  });
  return out;
}

const cell = (s: string) => s.replaceAll('|', '\\|');

/** The sections as Markdown. */
export function gpuDetailLines(m: BenchMeasurement): string[] {
  const lines: string[] = [];
  for (const s of gpuDetailSections(m)) {
    lines.push(`#### ${s.title}`, '', ...s.lines);
    if (s.head && s.rows) {
      if (s.lines.length) lines.push('');
      lines.push(`| ${s.head.map(cell).join(' | ')} |`, `|${s.head.map(() => '---').join('|')}|`, ...s.rows.map((r) => `| ${r.map(cell).join(' | ')} |`));
    }
    lines.push('');
  }
  return lines;
}
