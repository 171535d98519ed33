import type { BenchReport } from '../worker/protocol.ts';
import { gpuDetailLines, TIMESTAMP_NOTE } from './bench-gpu-report.ts';
import { tuningMarkdown } from './tuning-report.ts';
import { formatBytes } from '../common/format.ts';

const f = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));

/** The measurements as [label, value] rows, in the order the screen and the report show them. */
export function benchRows(r: BenchReport): [string, string][] {
  return [
    ['Model', r.model],
    ['Adapter', r.adapter],
    ['Prompt / decoded tokens', `${r.promptTokens} / ${r.decodeTokens}`],
    ['Load (read, upload, compile)', `${f(r.loadMs, 0)} ms`],
    ['Time to first token', `${f(r.ttftMs, 0)} ms`],
    ['Prefill', `${f(r.prefillTokPerS)} tok/s`],
    ['Decode', `${f(r.decodeTokPerS, 3)} tok/s`],
    ['Dispatches per token', String(r.dispatchesPerToken)],
    ['Weight bytes per token', `${f(r.weightBytesPerToken / 1e6, 1)} MB`],
    ['KV cache', `${r.kvType === 'q8_0' ? '8-bit (q8_0)' : '16-bit (f16)'}, ${formatBytes(r.kvBytes)}`],
    ['GPU memory (every buffer the engine holds)', formatBytes(r.gpuBytes)],
    ['Decode bandwidth', `${f(r.decodeGBps, 3)} GB/s`],
    ['Streaming-read bandwidth', `${f(r.streamGBps, 3)} GB/s`],
    ['Roofline fraction (decode / streaming read)', f(r.rooflineFraction, 3)],
    ['Streaming read, 64 workgroups (the original reference)', `${f(r.streamGBpsLegacy64, 3)} GB/s`],
    ['Roofline fraction against 64 workgroups', f(r.rooflineFractionLegacy64, 3)],
  ];
}

/** A copyable report: a Markdown table, the per-kernel times, and the full JSON. */
export function benchMarkdown(r: BenchReport): string {
  const lines = ['## Phi-3 WebGPU benchmark', '', '| metric | value |', '|---|---|'];
  for (const [k, v] of benchRows(r)) lines.push(`| ${k} | ${v.replaceAll('|', '\\|')} |`);
  lines.push('', `Features: ${r.capabilities.features.join(', ') || 'none'}`, `Browser: ${r.userAgent}`, '');
  lines.push(tuningMarkdown(r.tuning), '');
  if (r.profile) {
    lines.push(`### GPU time per kernel kind (${r.profile.steps} decode steps, timestamp queries)`, '');
    lines.push(`GPU ${f(r.profile.gpuMsPerStep, 3)} ms of ${f(r.profile.wallMsPerStep, 3)} ms wall per profiled step.`, '');
    lines.push('| kernel | dispatches/step | ms/step | share |', '|---|---|---|---|');
    for (const k of r.profile.kinds) lines.push(`| ${k.kind} | ${k.dispatchesPerStep} | ${f(k.msPerStep, 3)} | ${f(100 * k.fraction, 1)}% |`);
  } else {
    lines.push(`GPU time per kernel: not measured (${r.profileSkipped ?? 'unknown reason'}).`);
  }
  lines.push('', `> ${TIMESTAMP_NOTE}`, '', '### GPU details', '', ...gpuDetailLines(r));
  lines.push('', '```json', JSON.stringify(r, null, 2), '```', '');
  return lines.join('\n');
}
