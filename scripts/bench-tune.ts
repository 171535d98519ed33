/**
 * npm run bench:tune -- [--json] [--drivers lavapipe,swiftshader] [--preset small] [--prompt 128]
 *                       [--decode 32] [--rounds 3] [--ctx 1024] [--search full|seeded] [--out tune.json]
 *
 * The autotuner against the hand-tuned tables, on each CPU driver in Node (one child process per
 * driver: Dawn picks its Vulkan ICD at start-up). In each: the generated Q4_K_M model of the preset
 * is loaded twice, once with the adapter's table plan and once tuned at load (src/engine/tune.ts;
 * the tuning time is what that load spent in tuneKernels; the search is the tuner's default for the
 * adapter, 'seeded' on these emulators, unless --search says), then prefill and decode are timed on
 * both, alternating table / tuned for `rounds` rounds so the machine's drift hits both alike;
 * medians are reported. Also the streaming-read reference (the roofline's) sweep on the adapter.
 *
 * Prints a Markdown table, or with --json one JSON object:
 *   {"adapters": [{"adapter", "tuneMs", "choices", "dropped", "table": {"decodeTokS", "prefillTokS"},
 *     "autotuned": {"decodeTokS", "prefillTokS"}, "streamRead"}],
 *    "streamRead": {<driver>: {"workgroupsTried", "shapesTried", "best", ...}}}
 */
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fileSource } from '../src/model/source-node.ts';
import { openModel, readModel, type OpenedModel } from '../src/engine/open.ts';
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { tablePlan } from '../src/engine/plan.ts';
import { StreamBench, shapeName, type StreamTrial } from '../src/engine/stream-sweep.ts';
import { benchPromptIds, decodeWeightBytes } from '../src/engine/bench.ts';
import { tuneKernels, tuningReport, type TuningReport } from '../src/engine/tune.ts';
import { deviceAdapterText } from '../src/kernels/tuning.ts';
import { GREEDY } from '../src/common/sampling.ts';
import { ensureModel } from './test-models.ts';
import type { PresetName } from './test-model-spec.ts';

interface Speeds {
  decodeTokS: number;
  prefillTokS: number;
}

export interface AdapterResult {
  driver: string;
  adapter: string;
  preset: string;
  tuneMs: number;
  timer?: string;
  search?: string;
  choices: Record<string, string>;
  dropped: TuningReport['dropped'];
  table: Speeds;
  autotuned: Speeds;
  /** autotuned / table, per measure. */
  ratio: Speeds;
  rounds: { table: Speeds[]; autotuned: Speeds[] };
  /** The streaming-read sweep on this adapter (the roofline's reference). */
  streamRead: { workgroupsTried: number[]; shapesTried: string[]; notTried: number; sweepMs: number; best: StreamTrial & { shape: string } };
}

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    drivers: { type: 'string', default: 'lavapipe,swiftshader' },
    preset: { type: 'string', default: 'small' },
    prompt: { type: 'string', default: '128' },
    decode: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    ctx: { type: 'string', default: '1024' },
    out: { type: 'string' },
    search: { type: 'string' },
    child: { type: 'boolean', default: false },
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeOnce(m: OpenedModel, ids: number[], decode: number): Promise<Speeds> {
  m.engine.reset();
  const res = await m.engine.generate(ids, { maxTokens: decode, sampling: GREEDY });
  if (res.tokens.length !== decode) throw new Error(`bench:tune: decoded ${res.tokens.length} of ${decode} tokens`);
  return { prefillTokS: ids.length / (res.prefillMs / 1000), decodeTokS: (decode - 1) / (res.decodeMs / 1000) };
}

/** One driver, in this process (WEBGPU_ICD already set by the parent). */
async function child(): Promise<AdapterResult> {
  const { device, capabilities } = await openNodeDevice();
  const preset = args.preset as PresetName;
  const path = await ensureModel({ preset, mix: 'q4_k_m', seed: 1 });
  const ctx = Number(args.ctx);
  const decode = Number(args.decode);
  const chunk = 128;
  const warmUp = { promptTokens: 2, maxTokens: 2 };
  const table = await openModel(device, await readModel(await fileSource(path)), {
    contextLength: ctx,
    plan: tablePlan(deviceAdapterText(device), device.features.has('subgroups')),
    warmUp,
  });
  let report: TuningReport | undefined;
  const model = await readModel(await fileSource(path));
  const ids = benchPromptIds(model.tokenizer, Number(args.prompt));
  const tuned = await openModel(device, model, {
    contextLength: ctx,
    warmUp,
    tune: async (weights) => {
      const r = await tuneKernels(device, model.cfg, weights, {
        chunk,
        contextLength: ctx,
        search: args.search === undefined ? undefined : (args.search as 'full' | 'seeded'),
        onProgress: (done, total, role) => process.stderr.write(`[bench:tune] ${done}/${total} ${role}\n`),
      });
      report = tuningReport(r);
      return r.plan;
    },
  });
  // the roofline reference's sweep on this adapter, over as many bytes as a decode step reads
  const stream = new StreamBench(device, decodeWeightBytes(table.engine));
  const sweep = await stream.sweep({ budgetMs: 60_000 });
  stream.destroy();
  const rounds = { table: [] as Speeds[], autotuned: [] as Speeds[] };
  for (let r = 0; r < Number(args.rounds); r++) {
    rounds.table.push(await timeOnce(table, ids, decode));
    rounds.autotuned.push(await timeOnce(tuned, ids, decode));
  }
  table.engine.destroy();
  tuned.engine.destroy();
  const med = (xs: Speeds[]): Speeds => ({ decodeTokS: median(xs.map((x) => x.decodeTokS)), prefillTokS: median(xs.map((x) => x.prefillTokS)) });
  const t = med(rounds.table);
  const a = med(rounds.autotuned);
  const rep = report!;
  return {
    driver: process.env.WEBGPU_ICD ?? 'lavapipe',
    adapter: adapterName(capabilities.adapter),
    preset,
    tuneMs: rep.tuneMs ?? 0,
    timer: rep.timer,
    search: rep.search,
    choices: Object.fromEntries(rep.roles.map((r) => [r.role, r.chosen])),
    dropped: rep.dropped,
    table: t,
    autotuned: a,
    ratio: { decodeTokS: a.decodeTokS / t.decodeTokS, prefillTokS: a.prefillTokS / t.prefillTokS },
    rounds,
    streamRead: {
      workgroupsTried: sweep.workgroupsTried,
      shapesTried: sweep.shapesTried.map(shapeName),
      notTried: sweep.notTried,
      sweepMs: sweep.sweepMs,
      best: { ...sweep.best, shape: shapeName(sweep.best) },
    },
  };
}

function markdown(results: AdapterResult[]): string {
  const f = (x: number, d = 1) => x.toFixed(d);
  const lines = [
    '| adapter | model | tuning | table decode tok/s | tuned decode tok/s | ratio | table prefill tok/s | tuned prefill tok/s | ratio |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.adapter} | ${r.preset} Q4_K_M | ${f(r.tuneMs / 1000)} s (${r.search} search, ${r.timer}) | ${f(r.table.decodeTokS, 2)} | ${f(r.autotuned.decodeTokS, 2)} | ${f(r.ratio.decodeTokS, 3)} | ${f(r.table.prefillTokS)} | ${f(r.autotuned.prefillTokS)} | ${f(r.ratio.prefillTokS, 3)} |`,
    );
  }
  for (const r of results) {
    lines.push('', `Choices on ${r.adapter}:`, '', '| role | choice |', '|---|---|');
    for (const [role, c] of Object.entries(r.choices)) lines.push(`| ${role} | ${c} |`);
    if (r.dropped.length) lines.push('', `Dropped: ${r.dropped.map((d) => `${d.role} ${d.label}: ${d.reason}`).join('; ')}`);
    const b = r.streamRead.best;
    lines.push('', `Streaming read on ${r.adapter}: best ${b.GBps.toFixed(2)} GB/s at ${b.workgroups} workgroups, ${b.shape} (workgroups tried: ${r.streamRead.workgroupsTried.join(', ')}; ${r.streamRead.notTried} configurations left out by the time budget)`);
  }
  return lines.join('\n');
}

async function main() {
  if (args.child) {
    process.stdout.write(JSON.stringify(await child()) + '\n');
    // the Dawn instance keeps the event loop alive after the last GPU call; the result is written
    process.exit(0);
  }
  const results: AdapterResult[] = [];
  const self = fileURLToPath(import.meta.url);
  const passOn = process.argv.slice(2).filter((a) => a !== '--json');
  for (const driver of args.drivers.split(',')) {
    process.stderr.write(`[bench:tune] ${driver}\n`);
    const r = spawnSync(process.execPath, [...process.execArgv, self, ...passOn, '--child'], {
      env: { ...process.env, WEBGPU_ICD: driver },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 64 * 2 ** 20,
    });
    if (r.status !== 0) throw new Error(`bench:tune: the ${driver} run failed (exit ${r.status})`);
    results.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as AdapterResult);
  }
  const out = { adapters: results, streamRead: Object.fromEntries(results.map((r) => [r.driver, r.streamRead])) };
  if (args.out) writeFileSync(args.out, JSON.stringify(out, null, 2));
  process.stdout.write(args.json ? JSON.stringify(out) + '\n' + markdown(results) + '\n' : markdown(results) + '\n');
}

await main();
