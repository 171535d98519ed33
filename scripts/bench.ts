/**
 * npm run bench -- [--models tiny,small,phi3-mini] [--prompt 512] [--decode 128] [--no-llama]
 *                  [--out bench.json]
 *
 * Our engine in Node (Dawn on lavapipe, or WEBGPU_ICD=swiftshader) on generated Q4_K_M models,
 * and native llama.cpp (node-llama-cpp, CPU, 2 threads) on the same files in the same run.
 * Prints JSON and a Markdown table: prefill tok/s, decode tok/s, time to first token, load
 * time, dispatches and weight bytes per decoded token, the decode step's effective bandwidth and
 * its fraction of a pure streaming read of the same number of bytes on the same adapter
 * (the roofline fraction), and our ratio to llama.cpp.
 * phi3-mini defaults to a 16-token prompt and 8 decoded tokens (prefill is slow on a CPU GPU).
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { fileSource } from '../src/model/source-node.ts';
import { readGGUF } from '../src/model/gguf.ts';
import { modelConfigFromGGUF } from '../src/model/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { StreamReadKernel } from '../src/kernels/stream-read.ts';
import { ensureModel } from './test-models.ts';
import { loadLlamaModel } from './llama-ref.ts';
import { PROMPT_TEXT } from './prompts.ts';
import { Tokenizer } from '../src/model/tokenizer.ts';
import { vocabFromMetadata } from '../src/model/vocab.ts';
import type { PresetName } from './test-model-spec.ts';
import type { Token } from 'node-llama-cpp';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** GB/s of a kernel that only reads `bytes` (in buffers of at most the binding limit) and sums them. */
async function streamBandwidth(device: GPUDevice, bytes: number, runs = 5): Promise<number> {
  const k = new StreamReadKernel(device);
  const part = Math.min(device.limits.maxStorageBufferBindingSize, 128 * 2 ** 20) & ~15;
  const buffers: GPUBuffer[] = [];
  for (let left = bytes; left > 0; left -= part) {
    const b = device.createBuffer({ size: Math.max(16, Math.min(part, Math.ceil(left / 16) * 16)), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    buffers.push(b);
  }
  const partials = k.createPartials();
  const groups = buffers.map((b) => k.bind(b, partials));
  const run = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const g of groups) k.encode(pass, g);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await run();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await run());
  for (const b of buffers) b.destroy();
  partials.destroy();
  const total = buffers.reduce((s, b) => s + b.size, 0);
  return total / (median(ms) / 1000) / 1e9;
}

interface Row {
  model: string;
  engine: string;
  promptTokens: number;
  decodeTokens: number;
  loadMs: number;
  ttftMs: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  dispatchesPerToken?: number;
  weightBytesPerToken?: number;
  decodeGBps?: number;
  streamGBps?: number;
  rooflineFraction?: number;
}

async function benchOurs(name: string, path: string, promptIds: number[], decode: number): Promise<Row> {
  const t0 = performance.now();
  const src = await fileSource(path);
  const file = await readGGUF(src);
  const cfg = modelConfigFromGGUF(file);
  const { device, capabilities } = await openNodeDevice();
  try {
    const engine = await Engine.load(device, file, src, cfg, { contextLength: Math.max(256, promptIds.length + decode + 16), slidingWindow: false });
    const loadMs = performance.now() - t0;
    await engine.generate(promptIds.slice(0, 4), { maxTokens: 2 }); // compile every pipeline once
    engine.reset();
    const res = await engine.generate(promptIds, { maxTokens: decode });
    const n = res.tokens.length;
    const decodeTokPerS = (n - 1) / (res.decodeMs / 1000);
    const weightBytesPerToken = engine.weightBytes;
    const decodeGBps = (weightBytesPerToken * decodeTokPerS) / 1e9;
    const dispatchesPerToken = engine.counters.dispatchesPerDecodeStep;
    engine.destroy();
    const streamGBps = await streamBandwidth(device, weightBytesPerToken);
    return {
      model: name,
      engine: `ours (${adapterName(capabilities.adapter).split(' (')[0]})`,
      promptTokens: promptIds.length,
      decodeTokens: n,
      loadMs,
      ttftMs: res.prefillMs,
      prefillTokPerS: promptIds.length / (res.prefillMs / 1000),
      decodeTokPerS,
      dispatchesPerToken,
      weightBytesPerToken,
      decodeGBps,
      streamGBps,
      rooflineFraction: decodeGBps / streamGBps,
    };
  } finally {
    device.destroy();
    await src.close();
  }
}

async function benchLlama(name: string, path: string, promptIds: number[], decode: number): Promise<Row> {
  const t0 = performance.now();
  const model = await loadLlamaModel(path);
  const loadMs = performance.now() - t0;
  try {
    const ctx = await model.createContext({ contextSize: Math.max(256, promptIds.length + decode + 16), threads: 2, batchSize: 512 });
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
        engine: 'llama.cpp native (CPU, 2 threads)',
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
  const f = (x: number | undefined, d = 2) => (x === undefined ? '' : x.toFixed(d));
  const lines = [
    '| model | engine | prompt | prefill tok/s | TTFT ms | decode tok/s | load ms | dispatches/tok | weight MB/tok | decode GB/s | stream GB/s | roofline | vs llama.cpp (prefill / decode) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const ref = rows.find((x) => x.model === r.model && x.engine.startsWith('llama.cpp'));
    const ratio = ref && r !== ref ? `${f(r.prefillTokPerS / ref.prefillTokPerS)} / ${f(r.decodeTokPerS / ref.decodeTokPerS)}` : '';
    lines.push(
      `| ${r.model} | ${r.engine} | ${r.promptTokens} | ${f(r.prefillTokPerS)} | ${f(r.ttftMs, 0)} | ${f(r.decodeTokPerS, 3)} | ${f(r.loadMs, 0)} | ${r.dispatchesPerToken ?? ''} | ${r.weightBytesPerToken ? (r.weightBytesPerToken / 1e6).toFixed(1) : ''} | ${f(r.decodeGBps, 3)} | ${f(r.streamGBps, 3)} | ${f(r.rooflineFraction, 3)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

const { values: v } = parseArgs({
  options: {
    models: { type: 'string', default: 'tiny,small' },
    prompt: { type: 'string' },
    decode: { type: 'string' },
    'no-llama': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const rows: Row[] = [];
for (const preset of (v.models as string).split(',') as PresetName[]) {
  const full = preset === 'phi3-mini';
  const path = await ensureModel({ preset, mix: 'q4_k_m', seed: 1 });
  const file = await readGGUF(await fileSource(path));
  const tok = new Tokenizer(vocabFromMetadata(file.metadata));
  const want = Number(v.prompt ?? (full ? 16 : 512));
  let ids = tok.encode(PROMPT_TEXT, { addSpecial: true });
  while (ids.length < want) ids = ids.concat(tok.encode(PROMPT_TEXT, { addSpecial: false }));
  ids = ids.slice(0, want);
  const decode = Number(v.decode ?? (full ? 8 : 128));
  rows.push(await benchOurs(preset, path, ids, decode));
  if (!v['no-llama']) rows.push(await benchLlama(preset, path, ids, decode));
  process.stderr.write(`${JSON.stringify(rows.slice(-2))}\n`);
}
const report = { date: new Date().toISOString(), rows };
if (v.out) writeFileSync(v.out, JSON.stringify(report, null, 2));
console.log(JSON.stringify(report));
console.log(table(rows));
