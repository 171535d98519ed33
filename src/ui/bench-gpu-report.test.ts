/**
 * The benchmark's GPU-detail sections as the screen and the copied report show them: every
 * section present when measured, skipped runs with their reason, nothing shown for what was not
 * asked, the timestamp note in the copied report.
 */
import { describe, expect, it } from 'vitest';
import { gpuDetailLines, gpuDetailSections } from './bench-gpu-report.ts';
import { benchMarkdown } from './bench-report.ts';
import type { BenchMeasurement, BenchReport } from '../worker/protocol.ts';

const legacy = { workgroups: 64, workgroupSize: 256, vec4PerIteration: 1, blocked: false };
const best = { workgroups: 4096, workgroupSize: 256, vec4PerIteration: 4, blocked: false };
const m: BenchMeasurement = {
  promptTokens: 16,
  decodeTokens: 8,
  ttftMs: 100,
  prefillTokPerS: 160,
  decodeTokPerS: 50,
  dispatchesPerToken: 196,
  weightBytesPerToken: 2e9,
  kvType: 'f16',
  kvBytes: 1.6e9,
  gpuBytes: 4e9,
  decodeGBps: 100,
  streamGBps: 400,
  streamGBpsLegacy64: 80,
  rooflineFraction: 0.25,
  rooflineFractionLegacy64: 1.25,
  streamBest: { ...best, GBps: 400 },
  streamCandidates: [
    { ...legacy, GBps: 80 },
    { ...best, GBps: 400 },
  ],
  streamSweep: {
    bytesPerRead: 2e9,
    bytesPerTrial: 2e9,
    runsPerTrial: 2,
    workgroupsTried: [64, 4096],
    shapesTried: [
      { workgroupSize: 256, vec4PerIteration: 1, blocked: false },
      { workgroupSize: 256, vec4PerIteration: 4, blocked: false },
    ],
    trials: [
      { ...legacy, GBps: 81 },
      { ...best, GBps: 410 },
    ],
    notTried: 2,
    best: { ...best, GBps: 410 },
    sweepMs: 1500,
  },
  rooflineRounds: 3,
  profile: {
    steps: 2,
    gpuMsPerStep: 18,
    medianGpuMsPerStep: 18,
    wallMsPerStep: 21,
    kinds: [],
    roles: [{ role: 'qkv', name: 'QKV', dispatchesPerStep: 32, msPerStep: 5, bytes: 6e8, GBps: 120, fraction: 0.3 }],
  },
  bubbles: { wallMsPerToken: 20, gpuMsPerToken: 18, bubbleMsPerToken: 2, bubbleFraction: 0.1 },
  contextDecode: [
    { context: 128, decodeTokens: 8, decodeTokPerS: 49, msPerToken: 20.4, kvBytesPerToken: 5e7, GBps: 100 },
    { context: 4088, requested: 4096, decodeTokens: 8, decodeTokPerS: 30, msPerToken: 33.3, kvBytesPerToken: 1.6e9, GBps: 108 },
    { context: 8192, decodeTokens: 0, skipped: 'position 8192 and 8 decoded tokens exceed the loaded context (4096)' },
  ],
  prefillRuns: [
    { tokens: 128, ms: 200, tokPerS: 640, chunk: 128, gemms: [{ role: 'qkv', name: 'QKV', m: 128, rows: 9216, k: 3072, count: 32, ms: 20, GFLOPs: 5800 }] },
    { tokens: 512, ms: 700, tokPerS: 731, chunk: 128, gemmsSkipped: 'profiling not requested' },
  ],
  compileMs: 1234,
};

describe('gpuDetailSections', () => {
  it('every measured section, with skipped runs and their reasons', () => {
    const s = gpuDetailSections(m);
    expect(s.map((x) => x.title)).toEqual([
      'Roofline reference (streaming read)',
      'GB/s per GEMV role (2 profiled decode steps)',
      'Dispatch bubbles (decode)',
      'Decode at longer contexts',
      'Prefill by prompt length',
      'Pipeline compile time',
    ]);
    const text = gpuDetailLines(m).join('\n');
    expect(text).toContain('Reference: 4096 workgroups of 256 threads, 4 vec4 load(s) per iteration, grid stride, 400.000 GB/s (the original 64-workgroup read: 80.000 GB/s).');
    expect(text).toContain('Roofline fraction (decode / streaming read): 0.250 (against the 64-workgroup read: 1.250).');
    expect(text).toContain('stopped at its time budget: 2 configurations not tried');
    expect(text).toContain('| QKV | 32 | 5.000 | 600.00 | 120.00 | 30.0% |');
    expect(text).toContain('| 4088 (asked 4096) | 8 | 30.000 |');
    expect(text).toContain('| 8192 | — | skipped: position 8192 and 8 decoded tokens exceed the loaded context (4096) |');
    expect(text).toContain('| 128 | 200 | 640.00 | QKV 9216x3072 5800.0 |');
    expect(text).toContain('| 512 | 700 | 731.00 | — (profiling not requested) |');
    expect(text).toContain('1234 ms from the start of the background compiles');
  });

  it('shows nothing for runs not asked for, and the reason when roles could not be attributed', () => {
    const bare: BenchMeasurement = { ...m, profile: { ...m.profile!, roles: undefined, rolesSkipped: 'no weight dispatch was profiled' }, bubbles: undefined, contextDecode: undefined, prefillRuns: undefined, compileMs: undefined };
    const titles = gpuDetailSections(bare).map((x) => x.title);
    expect(titles).toEqual(['Roofline reference (streaming read)', 'GB/s per GEMV role', 'Pipeline compile time']);
    expect(gpuDetailLines(bare).join('\n')).toContain('Not attributed: no weight dispatch was profiled.');
  });

  it('the copied report carries the timestamp note and the details', () => {
    const tuning: BenchReport['tuning'] = {
      source: 'tuned',
      tuneMs: 4200,
      timer: 'timestamp',
      roles: [{ role: 'qkv', chosen: 'workgroupSize=128 rowsPerWorkgroup=4 lanesPerRow=32 subgroups', ms: 0.05, referenceMs: 0.08, candidates: 12 }],
      dropped: [{ role: 'wo', label: 'workgroupSize=256 rowsPerWorkgroup=8 f16', reason: 'did not compile' }],
    };
    const r: BenchReport = { ...m, model: 'Phi-3', adapter: 'test', capabilities: { features: [], limits: {} } as unknown as BenchReport['capabilities'], userAgent: 'x', contextLength: 4096, loadMs: 1, tuning };
    const text = benchMarkdown(r);
    expect(text).toContain('### Kernel plan');
    expect(text).toContain('Tuned on this GPU during this load in 4.2 s (GPU timestamps)');
    expect(text).toContain('| qkv | workgroupSize=128 rowsPerWorkgroup=4 lanesPerRow=32 subgroups | 50.0 µs | 1.60x |');
    expect(text).toContain('- wo workgroupSize=256 rowsPerWorkgroup=8 f16: did not compile');
    expect(text).toContain('chrome://flags/#enable-webgpu-developer-features');
    expect(text).toContain('| Roofline fraction against 64 workgroups | 1.250 |');
    expect(text).toContain('#### Decode at longer contexts');
  });
});
