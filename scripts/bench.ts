/**
 * npm run bench -- [--models tiny,small,phi3-mini] [--prompt 512] [--decode 128] [--profile 4]
 *                  [--no-llama] [--no-browser] [--no-wllama] [--browser-models tiny,small]
 *                  [--browser-prompt tiny=256,small=32] [--browser-decode tiny=64,small=8]
 *                  [--threads 1,2] [--llama-threads 1,2] [--build] [--port 4184] [--out bench.json]
 *                  [--file phi3-mini=models/phi3-mini-q4_k_m-s1.gguf]
 *                  [--no-sweep] [--sweep-budget-s 30] [--rounds 3] [--contexts 128,1024,4096] [--context-decode 8]
 *                  [--prefill-lengths 128,512,2048] [--gpu-details] [--kv-type f16|q8_0]
 *
 * On generated Q4_K_M models, in one run on one machine:
 *   - ours in Node: Dawn on lavapipe (or WEBGPU_ICD=swiftshader);
 *   - llama.cpp natively (node-llama-cpp, CPU, once per thread count in --llama-threads);
 *   - ours in headless Chromium (WebGPU on SwiftShader), through the app's worker (scripts/bench-browser.ts);
 *   - wllama 2.4.0 (llama.cpp in WebAssembly) in the same Chromium (a file of 2^31 bytes or more as
 *     llama.cpp-style shards of the same bytes, scripts/gguf-split.ts: wllama cannot read it whole).
 * All run the same prompt ids (BOS + fixed English text) and decode greedily without stopping.
 * Prints JSON and a Markdown table: prefill tok/s, time to first token, decode tok/s, load time,
 * dispatches and weight bytes per decoded token, the decode step's bandwidth and its fraction of
 * a pure streaming read of as many bytes on the same adapter (roofline), GPU time per kernel kind
 * (timestamp queries), and our ratios to llama.cpp and to wllama.
 *
 * Counts accept one number or per-model values (`tiny=512,small=64`). Defaults: 512 / 128 in
 * Node, 16 / 8 for phi3-mini (prefill is slow on a CPU GPU); in Chromium SwiftShader is ~10x
 * slower than lavapipe, so tiny 256 / 64 and small 32 / 8, and phi3-mini is skipped unless named
 * in --browser-models. The table shows the counts each row used. wllama runs once per thread
 * count in --threads, llama.cpp per --llama-threads (both busy-wait between threads, so on a
 * loaded 2-core machine one thread can beat two); ratios are taken against the peer's best row. --file uses an existing
 * GGUF for a preset instead of the generated one (e.g. an already generated 2.4 GB phi3-mini).
 *
 * The roofline reference is the fastest streaming read over a sweep of workgroup counts and shapes
 * (--no-sweep: the original 64-workgroup read only), measured in --rounds rounds interleaved with
 * the decode runs (medians); the original reference's fraction is printed beside it. Off unless
 * asked (they take minutes on a CPU driver with a large model): decode at --contexts positions
 * (--context-decode tokens each; contexts over the loaded context are skipped with the reason) and
 * prefill at --prefill-lengths (GFLOP/s per GEMM role when profiling); --gpu-details turns on both
 * at their full sizes (128,1024,4096 and 128,512,2048) and loads a context that holds them.
 */
import { KV_TYPES, type KvType } from '../src/model/config.ts';
import { parseArgs } from 'node:util';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { fileSource } from '../src/model/source-node.ts';
import { openModel, readModel } from '../src/engine/open.ts';
import { benchEngine, benchPromptIds, type BenchMeasurement, type KernelProfile } from '../src/engine/bench.ts';
import { gpuDetailLines } from '../src/ui/bench-gpu-report.ts';
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { ensureModel } from './test-models.ts';
import { loadLlamaModel } from './llama-ref.ts';
import { PRESETS, type PresetName } from './test-model-spec.ts';
import { splitGGUF } from './gguf-split.ts';
import { benchOursInChromium, benchWllama, buildApp, launchChromium, type BrowserModel, type WllamaModel } from './bench-browser.ts';
import type { Token } from 'node-llama-cpp';
import type { TextTokenizer } from '../src/model/tokenizer.ts';

interface Row {
  model: string;
  engine: string;
  /** ours-node, ours-chromium, llama.cpp, wllama */
  kind: 'ours-node' | 'ours-chromium' | 'llama.cpp' | 'wllama';
  promptTokens: number;
  decodeTokens: number;
  loadMs: number;
  ttftMs: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  dispatchesPerToken?: number;
  weightBytesPerToken?: number;
  /** Ours: the KV cache's type, its GPU bytes, and every GPU buffer the engine holds. */
  kvType?: KvType;
  kvBytes?: number;
  gpuBytes?: number;
  decodeGBps?: number;
  streamGBps?: number;
  rooflineFraction?: number;
  profile?: KernelProfile;
  /** Ours in Node: the whole measurement (sweep, roles, contexts, prefill lengths, compile time). */
  details?: BenchMeasurement;
  note?: string;
}

interface GpuOptions {
  sweep: boolean;
  sweepBudgetMs: number;
  rounds: number;
  contexts: number[];
  contextDecode: number;
  prefillLengths: number[];
  kvType: KvType;
}

type Speeds = Pick<Row, 'promptTokens' | 'decodeTokens' | 'loadMs' | 'ttftMs' | 'prefillTokPerS' | 'decodeTokPerS'>;

/** The timings every row has, from a browser report or a wllama result. */
const speeds = (r: Speeds): Speeds => ({
  promptTokens: r.promptTokens,
  decodeTokens: r.decodeTokens,
  loadMs: r.loadMs,
  ttftMs: r.ttftMs,
  prefillTokPerS: r.prefillTokPerS,
  decodeTokPerS: r.decodeTokPerS,
});

const log = (l: string) => process.stderr.write(`${l}\n`);

async function readTokenizer(path: string): Promise<TextTokenizer> {
  const src = await fileSource(path);
  try {
    return (await readModel(src)).tokenizer;
  } finally {
    await src.close();
  }
}

/** "512" or "tiny=512,small=64" -> the count for `model`, else `fallback`. */
function countFor(spec: string | undefined, model: string, fallback: number): number {
  if (!spec) return fallback;
  let n: number | undefined;
  for (const part of spec.split(',')) {
    const [k, v] = part.includes('=') ? part.split('=') : [undefined, part];
    if (k === undefined || k.trim() === model) n = Number(v);
  }
  if (n === undefined) return fallback;
  if (!Number.isInteger(n) || n < 0) throw new Error(`bench: bad count "${spec}" for ${model}: expected a non-negative integer`);
  return n;
}

async function benchOurs(name: string, path: string, promptIds: number[], decode: number, profileSteps: number, g: GpuOptions): Promise<Row> {
  const t0 = performance.now();
  const src = await fileSource(path);
  const { device, capabilities } = await openNodeDevice();
  try {
    const longest = Math.max(0, ...g.contexts.map((c) => c + g.contextDecode), ...g.prefillLengths.map((n) => n + 1));
    const model = await readModel(src);
    const { engine } = await openModel(device, model, {
      // as much as the runs asked for need, within what the model was trained for (longer ones are skipped with the reason)
      contextLength: Math.max(256, promptIds.length + decode + 16, Math.min(longest, model.cfg.contextLength)),
      slidingWindow: false,
      kvType: g.kvType,
      // The app's load-time warm-up (src/worker/engine.worker.ts), with a prefill step too: the timed run compiles nothing.
      warmUp: { promptTokens: 4, maxTokens: 2 },
    });
    try {
      const loadMs = performance.now() - t0;
      const m = await benchEngine(engine, {
        promptIds,
        decodeTokens: decode,
        profileSteps,
        streamSweep: g.sweep,
        streamBudgetMs: g.sweepBudgetMs,
        rooflineRounds: g.rounds,
        contexts: g.contexts,
        contextDecodeTokens: g.contextDecode,
        prefillLengths: g.prefillLengths,
        onPhase: (p) => log(`[node ${name}] ${p}`),
      });
      const { promptTokens, decodeTokens, ttftMs, prefillTokPerS, decodeTokPerS, dispatchesPerToken, weightBytesPerToken, kvType, kvBytes, gpuBytes, decodeGBps, streamGBps, rooflineFraction, profile } = m;
      return {
        model: name,
        engine: `ours, Node (${adapterName(capabilities.adapter).split(' (')[0].split(':')[0]})`,
        kind: 'ours-node',
        ...{ promptTokens, decodeTokens, loadMs, ttftMs, prefillTokPerS, decodeTokPerS, dispatchesPerToken, weightBytesPerToken, kvType, kvBytes, gpuBytes, decodeGBps, streamGBps, rooflineFraction, profile },
        details: m,
        note: m.profileSkipped && profileSteps > 0 ? `no per-kernel times: ${m.profileSkipped}` : undefined,
      };
    } finally {
      engine.destroy();
    }
  } finally {
    device.destroy();
    await src.close();
  }
}

async function benchLlama(name: string, path: string, promptIds: number[], decode: number, threads: number): Promise<Row> {
  const t0 = performance.now();
  const model = await loadLlamaModel(path);
  const loadMs = performance.now() - t0;
  try {
    const ctx = await model.createContext({ contextSize: Math.max(256, promptIds.length + decode + 16), threads, batchSize: 512 });
    try {
      const seq = ctx.getSequence();
      const start = performance.now();
      let first = 0;
      let count = 0;
      for await (const _t of seq.evaluate(promptIds as Token[], { temperature: 0 })) {
        count++;
        if (count === 1) first = performance.now();
        if (count >= decode) break;
      }
      const end = performance.now();
      return {
        model: name,
        engine: `llama.cpp native (CPU, ${threads} thread${threads === 1 ? '' : 's'})`,
        kind: 'llama.cpp',
        promptTokens: promptIds.length,
        decodeTokens: count,
        loadMs,
        ttftMs: first - start,
        prefillTokPerS: promptIds.length / ((first - start) / 1000),
        decodeTokPerS: (count - 1) / ((end - first) / 1000),
      };
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

function table(rows: Row[]): string {
  const f = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d));
  // Against the peer's best row of the model (wllama may run with several thread counts).
  const ratio = (r: Row, kind: Row['kind']) => {
    const refs = rows.filter((x) => x.model === r.model && x.kind === kind);
    if (!refs.length || !r.kind.startsWith('ours')) return '';
    const prefill = Math.max(...refs.map((x) => x.prefillTokPerS));
    const decode = Math.max(...refs.map((x) => x.decodeTokPerS));
    return `${f(r.prefillTokPerS / prefill)} / ${f(r.decodeTokPerS / decode)}`;
  };
  const lines = [
    '| model | engine | prompt / decode | prefill tok/s | TTFT ms | decode tok/s | load ms | dispatches/tok | weight MB/tok | KV MB (type) | GPU MB | decode GB/s | stream GB/s | roofline | GPU ms/step | ours / llama.cpp (prefill / decode) | ours / wllama (prefill / decode) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.model} | ${r.engine} | ${r.promptTokens} / ${r.decodeTokens} | ${f(r.prefillTokPerS)} | ${f(r.ttftMs, 0)} | ${f(r.decodeTokPerS, 3)} | ${f(r.loadMs, 0)} | ${r.dispatchesPerToken ?? ''} | ${r.weightBytesPerToken ? (r.weightBytesPerToken / 1e6).toFixed(2) : ''} | ${r.kvBytes ? `${(r.kvBytes / 1e6).toFixed(2)} (${r.kvType})` : ''} | ${r.gpuBytes ? (r.gpuBytes / 1e6).toFixed(1) : ''} | ${f(r.decodeGBps, 3)} | ${f(r.streamGBps, 3)} | ${f(r.rooflineFraction, 3)} | ${f(r.profile?.gpuMsPerStep, 2)} | ${ratio(r, 'llama.cpp')} | ${ratio(r, 'wllama')} |`,
    );
  }
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.model}, ${r.engine}: ${r.note}`);
  const kinds = rows
    .filter((r) => r.profile)
    .map((r) => {
      const p = r.profile as KernelProfile;
      const top = p.kinds.map((k) => `${k.kind} ${k.msPerStep.toFixed(2)} ms (${k.dispatchesPerStep}x, ${(100 * k.fraction).toFixed(0)}%)`).join(', ');
      return `- ${r.model}, ${r.engine}, ${p.steps} steps: GPU ${p.gpuMsPerStep.toFixed(2)} of ${p.wallMsPerStep.toFixed(2)} ms wall per step (one timed pass per dispatch): ${top}`;
    });
  const details = rows.filter((r) => r.details).flatMap((r) => ['', `### ${r.model}, ${r.engine}`, '', ...gpuDetailLines(r.details as BenchMeasurement)]);
  return [...lines, '', 'GPU time per kernel kind (decode step, timestamp queries):', ...(kinds.length ? kinds : ['- none measured']), ...details, ...(notes.length ? ['', 'Notes:', ...notes] : [])].join('\n');
}

const { values: v } = parseArgs({
  options: {
    models: { type: 'string', default: 'tiny,small' },
    prompt: { type: 'string' },
    decode: { type: 'string' },
    profile: { type: 'string' },
    'no-llama': { type: 'boolean', default: false },
    'no-browser': { type: 'boolean', default: false },
    'no-wllama': { type: 'boolean', default: false },
    'browser-models': { type: 'string', default: 'tiny,small' },
    'browser-prompt': { type: 'string' },
    'browser-decode': { type: 'string' },
    threads: { type: 'string', default: '1,2' },
    'llama-threads': { type: 'string', default: '1,2' },
    build: { type: 'boolean', default: false },
    port: { type: 'string', default: '4184' },
    out: { type: 'string' },
    file: { type: 'string' },
    'no-sweep': { type: 'boolean', default: false },
    'sweep-budget-s': { type: 'string', default: '30' },
    rounds: { type: 'string', default: '3' },
    contexts: { type: 'string' },
    'context-decode': { type: 'string', default: '8' },
    'prefill-lengths': { type: 'string' },
    'gpu-details': { type: 'boolean', default: false },
    'kv-type': { type: 'string', default: 'f16' },
  },
});

const list = (spec: string | undefined, full: string): number[] => {
  const text = spec ?? (v['gpu-details'] ? full : '');
  const xs = text ? text.split(',').map((x) => Number(x.trim())) : [];
  for (const x of xs) if (!Number.isInteger(x) || x < 1) throw new Error(`bench: "${text}" is not a list of positive integers`);
  return xs;
};
const gpuOptions: GpuOptions = {
  sweep: !v['no-sweep'],
  sweepBudgetMs: 1000 * Number(v['sweep-budget-s']),
  rounds: Number(v.rounds),
  contexts: list(v.contexts as string | undefined, '128,1024,4096'),
  contextDecode: Number(v['context-decode']),
  prefillLengths: list(v['prefill-lengths'] as string | undefined, '128,512,2048'),
  kvType: v['kv-type'] as KvType,
};
if (!(KV_TYPES as readonly string[]).includes(gpuOptions.kvType)) throw new Error(`bench: --kv-type must be one of ${KV_TYPES.join(', ')} (got ${gpuOptions.kvType})`);
if (!(gpuOptions.sweepBudgetMs >= 0)) throw new Error(`bench: --sweep-budget-s must be a number of seconds (got ${v['sweep-budget-s']})`);
if (!Number.isInteger(gpuOptions.rounds) || gpuOptions.rounds < 1) throw new Error(`bench: --rounds must be a positive integer (got ${v.rounds})`);
if (!Number.isInteger(gpuOptions.contextDecode) || gpuOptions.contextDecode < 2) throw new Error(`bench: --context-decode must be an integer of at least 2 (got ${v['context-decode']})`);

const presets = (v.models as string).split(',').map((s) => s.trim()) as PresetName[];
for (const p of presets) if (!(p in PRESETS)) throw new Error(`bench: unknown model "${p}" (known: ${Object.keys(PRESETS).join(', ')})`);
const browserWanted = new Set((v['browser-models'] as string).split(',').map((s) => s.trim()));

const rows: Row[] = [];
const browserModels: BrowserModel[] = [];
const wllamaModels: WllamaModel[] = [];
const WLLAMA_SHARD_BYTES = 1.5e9;
const skipped: string[] = [];

const browserOpts = { port: Number(v.port), dist: 'dist-d', build: Boolean(v.build), log };
if (!v['no-browser'] && presets.some((p) => browserWanted.has(p))) buildApp(browserOpts);
const llamaThreads = (v['llama-threads'] as string).split(',').map(Number);
for (const t of [...llamaThreads, ...(v.threads as string).split(',').map(Number)]) {
  if (!Number.isInteger(t) || t < 1) throw new Error(`bench: thread counts must be positive integers (got ${t})`);
}

// 1. Node: ours on lavapipe, llama.cpp native.
for (const preset of presets) {
  // Full-size presets (Phi-3-mini's 32 layers and more) get short runs: a CPU driver takes seconds per token there.
  const full = PRESETS[preset].nLayers >= 32;
  const given = (v.file as string | undefined)?.split(',').find((x) => x.startsWith(`${preset}=`));
  const path = given ? given.slice(preset.length + 1) : await ensureModel({ preset, mix: 'q4_k_m', seed: 1 });
  if (!existsSync(path)) throw new Error(`bench: no such model file ${path}`);
  const tok = await readTokenizer(path);
  const ids = benchPromptIds(tok, countFor(v.prompt, preset, full ? 16 : 512));
  const decode = countFor(v.decode, preset, full ? 8 : 128);
  rows.push(await benchOurs(preset, path, ids, decode, countFor(v.profile, preset, full ? 2 : 4), gpuOptions));
  if (!v['no-llama']) for (const t of llamaThreads) rows.push(await benchLlama(preset, path, ids, decode, t));
  log(JSON.stringify(rows.filter((r) => r.model === preset).map(({ profile: _p, details: _d, ...r }) => r)));
  if (!v['no-wllama'] && !v['no-browser']) {
    // wllama cannot read a file of 2^31 bytes or more (its heap file system): give it llama.cpp-style shards of the same bytes
    const shards = statSync(path).size >= 2 ** 31 ? await splitGGUF(path, WLLAMA_SHARD_BYTES) : undefined;
    wllamaModels.push({ name: preset, path, shards, promptIds: ids, decode });
  }
  if (v['no-browser']) continue;
  if (!browserWanted.has(preset)) {
    skipped.push(`${preset}: not run in Chromium (SwiftShader reads int4 weights at ~0.02 GB/s, so a ${full ? '2.2 GB' : 'large'} model takes minutes per token; name it in --browser-models to run it)`);
    continue;
  }
  const bp = countFor(v['browser-prompt'], preset, preset === 'tiny' ? 256 : full ? 8 : 32);
  const bd = countFor(v['browser-decode'], preset, preset === 'tiny' ? 64 : full ? 4 : 8);
  browserModels.push({ name: preset, path, promptIds: benchPromptIds(tok, bp), decode: bd, profileSteps: countFor(v.profile, preset, 2) });
}

// 2. Chromium: ours through the app's worker in one browser, then wllama (each model in a fresh profile).
if (browserModels.length) {
  const browser = await launchChromium();
  try {
    const reports = await benchOursInChromium(browser, browserModels, browserOpts);
    for (const r of reports) {
      rows.push({
        model: r.name,
        engine: `ours, Chromium worker (${r.adapter.split(' (')[0]})`,
        kind: 'ours-chromium',
        ...speeds(r),
        dispatchesPerToken: r.dispatchesPerToken,
        weightBytesPerToken: r.weightBytesPerToken,
        decodeGBps: r.decodeGBps,
        streamGBps: r.streamGBps,
        rooflineFraction: r.rooflineFraction,
        profile: r.profile,
        note: `install (download, IndexedDB) ${(r.installMs / 1000).toFixed(1)} s; load is from IndexedDB; features: ${r.capabilities.features.join(' ')}${r.profileSkipped ? `; no per-kernel times: ${r.profileSkipped}` : ''}`,
      });
    }
  } finally {
    await browser.close();
  }
}
if (!v['no-browser'] && wllamaModels.length) {
  const results = [];
  for (const threads of (v.threads as string).split(',').map(Number)) {
    results.push(...(await benchWllama(wllamaModels, { threads, log, failed: skipped })));
  }
  for (const r of results) {
    rows.push({
      model: r.name,
      engine: `wllama 2.4.0 (wasm, ${r.threads} thread${r.threads === 1 ? '' : 's'})`,
      kind: 'wllama',
      ...speeds(r),
      note: `libllama ${r.version}, ${r.multiThread ? 'multi-thread' : 'single-thread'} build, crossOriginIsolated=${r.crossOriginIsolated}; load includes the HTTP download`,
    });
  }
}

const order: Row['kind'][] = ['ours-node', 'llama.cpp', 'ours-chromium', 'wllama'];
rows.sort((a, b) => presets.indexOf(a.model as PresetName) - presets.indexOf(b.model as PresetName) || order.indexOf(a.kind) - order.indexOf(b.kind));
const report = { date: new Date().toISOString(), rows, skipped };
if (v.out) writeFileSync(v.out, JSON.stringify(report, null, 2));
console.log(JSON.stringify(report));
console.log(table(rows));
if (skipped.length) console.log(['', 'Skipped:', ...skipped.map((s) => `- ${s}`)].join('\n'));
