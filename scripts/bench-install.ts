/**
 * npm run bench:install -- [--preset phi3-mini] [--mix q4_k_m] [--port 4185] [--no-build] [--context 512] [--out file.json]
 *
 * Installs a generated model into the app in Chromium (WebGPU on SwiftShader) the way a user
 * does, through `window.phi3` and the engine worker, from a local loopback server:
 *   download + store (16 MiB chunks, SHA-256 each, into IndexedDB), the header check that marks
 *   it complete, then a load from IndexedDB (read, hash-check, repack, upload) and the warm-up
 *   token that compiles the pipelines.
 * Prints the time of each phase and the peak memory of the browser: the sum of VmRSS over every
 * Chromium process (browser, renderer, GPU, utilities), sampled from /proc every 200 ms. RSS
 * counts shared pages once per process, so the sum overstates what the machine lost; it is the
 * number a user's task manager adds up. Too slow for CI (the default model is 2.39 GB).
 *
 * The browser profile is a fresh directory on disk (a persistent context), not an incognito
 * one: incognito keeps IndexedDB in memory, which would count the whole model as browser RSS.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, preview } from 'vite';
import { chromium } from '@playwright/test';
import { ensureModel } from './test-models.ts';
import { MIXES, PRESETS, type Mix, type PresetName } from './test-model-spec.ts';
import { startModelServer } from '../e2e/model-server.ts';
import type { ChatEngine } from '../src/client/openai.ts';

const { values: args } = parseArgs({
  options: {
    preset: { type: 'string', default: 'phi3-mini' },
    mix: { type: 'string', default: 'q4_k_m' },
    port: { type: 'string', default: '4185' },
    'no-build': { type: 'boolean', default: false },
    context: { type: 'string', default: '512' },
    out: { type: 'string' },
  },
});

const preset = args.preset as PresetName;
const mix = args.mix as Mix;
if (!(preset in PRESETS)) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
if (!MIXES.includes(mix)) throw new Error(`--mix must be one of ${MIXES.join(', ')}`);
const port = Number(args.port);
const DIST = '.cache/bench-install-dist';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--no-first-run'];
const ROOT = typeof process.getuid === 'function' && process.getuid() === 0 ? ['--no-sandbox'] : [];

const log = (s: string) => process.stderr.write(`[bench-install] ${s}\n`);

// ---- memory of the Chromium process tree, from /proc --------------------------------------

/** pid -> parent pid, for every process we can see. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // The command name is in parentheses and may contain spaces: fields start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(d), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function processType(pid: number): string {
  try {
    // Chromium's zygote children rewrite their command line into one space-separated string.
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    if (!/chrom/i.test(cmd.split(' ')[0] ?? '')) return '';
    return /--type=([\w-]+)/.exec(cmd)?.[1] ?? 'browser';
  } catch {
    return '';
  }
}

/** Chromium processes below this Node process (Playwright launches the browser as our child). */
function chromiumRss(): { totalKb: number; byType: Record<string, number> } {
  const pp = parents();
  const mine = new Set([process.pid]);
  // Parents have lower pids only usually; iterate to a fixed point instead of trusting that.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of pp) {
      if (!mine.has(pid) && mine.has(ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  const byType: Record<string, number> = {};
  let totalKb = 0;
  for (const pid of mine) {
    if (pid === process.pid) continue;
    const type = processType(pid);
    if (!type) continue;
    const kb = rssKb(pid);
    totalKb += kb;
    byType[type] = (byType[type] ?? 0) + kb;
  }
  return { totalKb, byType };
}

class MemorySampler {
  peakKb = 0;
  peakByType: Record<string, number> = {};
  private readonly phasePeaks = new Map<string, number>();
  private phase = 'start';
  private timer: ReturnType<typeof setInterval> | undefined;

  start(): void {
    this.timer = setInterval(() => this.sample(), 200);
  }

  setPhase(p: string): void {
    this.sample();
    this.phase = p;
  }

  sample(): void {
    const s = chromiumRss();
    this.phasePeaks.set(this.phase, Math.max(this.phasePeaks.get(this.phase) ?? 0, s.totalKb));
    if (s.totalKb > this.peakKb) {
      this.peakKb = s.totalKb;
      this.peakByType = s.byType;
    }
  }

  stop(): Record<string, number> {
    clearInterval(this.timer);
    this.sample();
    return Object.fromEntries([...this.phasePeaks].map(([k, v]) => [k, mb(v * 1024)]));
  }
}

const mb = (bytes: number) => Math.round(bytes / 1e6);

// ---- the run ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now();
  const startLoad = Math.round(loadavg()[0] * 10) / 10;
  const path = await ensureModel({ preset, mix, seed: 1 });
  const bytes = statSync(path).size;
  log(`model ${path} (${bytes} bytes) ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  if (!args['no-build']) {
    log(`building the app into ${DIST}`);
    await build({ logLevel: 'warn', build: { outDir: DIST, emptyOutDir: true } });
  }
  const app = await preview({ logLevel: 'warn', build: { outDir: DIST }, preview: { port, strictPort: true } });
  const models = await startModelServer({ 'model.gguf': path });
  const profile = mkdtempSync(join(tmpdir(), 'bench-install-'));
  const mem = new MemorySampler();
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: [...FLAGS, ...ROOT], headless: true });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`http://localhost:${port}/`);
    await page.waitForFunction(() => Boolean((window as unknown as { phi3?: ChatEngine }).phi3));
    // The page is up and idle: this is the baseline the phases add to.
    mem.start();
    mem.setPhase('idle');
    await new Promise((r) => setTimeout(r, 1000));

    // Phase marks come from the page's progress callbacks (their clock), exposed to sample memory per phase.
    await page.exposeFunction('benchPhase', (p: string) => mem.setPhase(p));
    const url = models.url('model.gguf');
    log('installing');
    const install = await page.evaluate(async (u) => {
      const w = window as unknown as { phi3: ChatEngine; benchPhase: (p: string) => Promise<void> };
      const marks: Record<string, number> = {};
      const start = performance.now();
      const m = await w.phi3.install({ kind: 'url', url: u }, (p) => {
        if (marks[p.phase] === undefined) {
          marks[p.phase] = performance.now() - start;
          void w.benchPhase(`install:${p.phase}`);
        }
      });
      return { id: m.id, complete: m.complete, storedBytes: m.storedBytes, marks, totalMs: performance.now() - start };
    }, url);
    if (!install.complete || install.storedBytes !== bytes) throw new Error(`install ended incomplete: ${JSON.stringify(install)}`);
    const served = models.bytesServed;
    log(`installed in ${(install.totalMs / 1000).toFixed(1)} s (phase starts, ms: ${JSON.stringify(install.marks)}); peak RSS so far ${mb(mem.peakKb * 1024)} MB`);

    log('loading from IndexedDB');
    mem.setPhase('load:start');
    const load = await page.evaluate(
      async ({ id, contextLength }) => {
        const w = window as unknown as { phi3: ChatEngine; benchPhase: (p: string) => Promise<void> };
        const marks: Record<string, number> = {};
        const start = performance.now();
        const r = await w.phi3.load({ kind: 'stored', id, contextLength }, (p) => {
          if (marks[p.phase] === undefined) {
            marks[p.phase] = performance.now() - start;
            void w.benchPhase(`load:${p.phase}`);
          }
        });
        return { marks, totalMs: performance.now() - start, weightBytes: r.weightBytes };
      },
      { id: install.id, contextLength: Number(args.context) },
    );
    const usage = await page.evaluate(() => navigator.storage.estimate());
    const phasePeaksMB = mem.stop();

    const im = install.marks;
    const lm = load.marks;
    const sec = (ms: number) => Math.round(ms) / 1000;
    const result = {
      model: `${preset} ${mix}`,
      bytes,
      bytesServed: served,
      chunkBytes: 16 * 2 ** 20,
      seconds: {
        // checking -> first 'verifying' progress: the bytes arrive, are hashed and written.
        downloadAndStore: sec((im.verifying ?? install.totalMs) - (im.downloading ?? 0)),
        // the header read back from IndexedDB, then the manifest marked complete.
        verifyAndMarkComplete: sec(install.totalMs - (im.verifying ?? install.totalMs)),
        install: sec(install.totalMs),
        // checking -> 'compiling': read every chunk from IndexedDB, check its SHA-256, repack, upload.
        readAndUpload: sec((lm.compiling ?? load.totalMs) - (lm.checking ?? 0)),
        // 'compiling' -> done: pipelines built and one warm-up token decoded.
        compileAndWarmup: sec(load.totalMs - (lm.compiling ?? load.totalMs)),
        load: sec(load.totalMs),
      },
      downloadMBps: Math.round(bytes / 1e6 / ((im.verifying ?? install.totalMs) / 1000 - (im.downloading ?? 0) / 1000)),
      gpuWeightBytes: load.weightBytes,
      storageUsageMB: mb(usage.usage ?? 0),
      peakRssMB: mb(mem.peakKb * 1024),
      peakRssByProcessTypeMB: Object.fromEntries(Object.entries(mem.peakByType).map(([k, v]) => [k, mb(v * 1024)])),
      peakRssByPhaseMB: phasePeaksMB,
      // Other work on the machine slows every phase: the 1-minute load average at the start and the end.
      loadAverage: [startLoad, Math.round(loadavg()[0] * 10) / 10],
      machine: { cpus: cpus().length, chromium: context.browser()?.version() ?? 'unknown' },
    };
    console.log(JSON.stringify(result, null, 2));
    const s = result.seconds;
    console.log(
      `| ${result.model} (${(bytes / 1e9).toFixed(2)} GB) | download+store ${s.downloadAndStore} s (${result.downloadMBps} MB/s) | ` +
        `verify ${s.verifyAndMarkComplete} s | load: read+upload ${s.readAndUpload} s, compile+warm-up ${s.compileAndWarmup} s | ` +
        `peak Chromium RSS ${result.peakRssMB} MB |`,
    );
    if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2));
  } finally {
    await context.close();
    await models.close();
    await new Promise<void>((r) => app.httpServer.close(() => r()));
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
