/**
 * The browser half of `npm run bench`, in Debian's Chromium (WebGPU on SwiftShader) driven by
 * Playwright with the flags of playwright.config.ts:
 *   - ours: the built app (`vite build --outDir dist-d`, `vite preview`) installs each generated
 *     model from a local Range/CORS server into IndexedDB and runs `window.phi3.bench(...)`,
 *     the measurement the in-app benchmark screen runs (src/engine/bench.ts);
 *   - wllama 2.4.0 (llama.cpp compiled to WebAssembly, CPU) in the same browser on the same GGUF
 *     and the same prompt ids: a small page served with COOP/COEP (cross-origin isolated, so
 *     wllama may use its multi-threaded build) that loads wllama's ESM + wasm from node_modules.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, extname, join, dirname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { WEBGPU_FLAGS } from '../playwright.config.ts';
import { startModelServer } from '../e2e/model-server.ts';
import type { BenchReport } from '../src/worker/protocol.ts';
import type { ChatEngine } from '../src/client/openai.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const VITE = join(ROOT, 'node_modules/vite/bin/vite.js');
const QUIET = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run', '--no-default-browser-check'];
const ROOT_USER = typeof process.getuid === 'function' && process.getuid() === 0 ? ['--no-sandbox'] : [];
/** Chromium exposes `timestamp-query` unquantized only with WebGPU developer features. */
const TIMESTAMP_FLAGS = ['--enable-webgpu-developer-features'];

export interface BrowserModel {
  name: string;
  path: string;
  /** The same prompt ids as the Node rows (cut to the count used here). */
  promptIds: number[];
  decode: number;
  profileSteps: number;
}

export interface BrowserOptions {
  port: number;
  dist: string;
  /** Rebuild the app even if `dist` exists. */
  build: boolean;
  log: (line: string) => void;
}

const LAUNCH = { executablePath: CHROMIUM, args: [...WEBGPU_FLAGS, ...TIMESTAMP_FLAGS, ...QUIET, ...ROOT_USER] };

export async function launchChromium(): Promise<Browser> {
  return chromium.launch(LAUNCH);
}

/**
 * The same Chromium with a profile on disk (a fresh temporary one), as a user's browser has: a
 * context from Browser.newContext() is off the record, and its origin-private file system gets a
 * quota far below a 2.4 GB model, which wllama writes there while it downloads.
 */
async function launchChromiumProfile(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
  const context = await chromium.launchPersistentContext(dir, LAUNCH);
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForUrl(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${ms / 1000} s`);
}

/**
 * `vite build` into `dist` when asked or missing. Call it before the Node half, so that both
 * halves run the sources as they were at the start of the run.
 */
export function buildApp(opts: BrowserOptions): void {
  if (!opts.build && existsSync(join(ROOT, opts.dist, 'index.html'))) return;
  opts.log(`[bench] vite build --outDir ${opts.dist}`);
  const r = spawnSync(process.execPath, [VITE, 'build', '--outDir', opts.dist, '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`vite build failed (exit ${r.status})`);
}

/** `vite preview` of the built app; returns the child. */
export async function startApp(opts: BrowserOptions): Promise<ChildProcess> {
  buildApp({ ...opts, build: false });
  // Someone else's server on the port would be benchmarked instead of this build: refuse.
  const busy = await fetch(`http://localhost:${opts.port}/`).then(() => true, () => false);
  if (busy) throw new Error(`port ${opts.port} is already in use: pass a free one with --port`);
  // vite itself (not through npx), so that killing the child stops the server.
  const child = spawn(process.execPath, [VITE, 'preview', '--outDir', opts.dist, '--port', String(opts.port), '--strictPort'], { cwd: ROOT, stdio: 'ignore' });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`vite preview exited (code ${code})`))));
  exited.catch(() => {});
  await Promise.race([waitForUrl(`http://localhost:${opts.port}/`, 60_000), exited]);
  return child;
}

/** Our engine in the browser worker: install from a local server, then the bench. */
export async function benchOursInChromium(browser: Browser, models: BrowserModel[], opts: BrowserOptions): Promise<(BenchReport & { installMs: number; name: string })[]> {
  const app = await startApp(opts);
  const server = await startModelServer(Object.fromEntries(models.map((m) => [`${m.name}.gguf`, m.path])));
  const out: (BenchReport & { installMs: number; name: string })[] = [];
  try {
    for (const m of models) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        page.on('pageerror', (e) => opts.log(`[chromium] page error: ${e.message}`));
        await page.exposeFunction('benchPhase', (p: string) => opts.log(`[chromium ${m.name}] ${p}`));
        await page.goto(`http://localhost:${opts.port}/`);
        await page.waitForFunction(() => 'phi3' in window, undefined, { timeout: 60_000 });
        const t0 = performance.now();
        const id = await page.evaluate(async (url) => (await (window as unknown as { phi3: ChatEngine }).phi3.install({ kind: 'url', url })).id, server.url(`${m.name}.gguf`));
        const installMs = performance.now() - t0;
        opts.log(`[chromium ${m.name}] installed in ${(installMs / 1000).toFixed(1)} s; bench: prompt ${m.promptIds.length}, decode ${m.decode}`);
        const report = await page.evaluate(
          async ({ id, prompt, decode, profile }) => {
            const w = window as unknown as { phi3: ChatEngine; benchPhase: (p: string) => void };
            return w.phi3.bench({ model: { kind: 'stored', id, contextLength: 4096 }, promptTokens: prompt, decodeTokens: decode, profileSteps: profile }, (p) => void w.benchPhase(p));
          },
          { id, prompt: m.promptIds.length, decode: m.decode, profile: m.profileSteps },
        );
        out.push({ ...report, installMs, name: m.name });
      } finally {
        await context.close();
      }
    }
  } finally {
    await server.close();
    app.kill();
  }
  return out;
}

export interface WllamaResult {
  loadMs: number;
  ttftMs: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  decodeTokens: number;
  threads: number;
  multiThread: boolean;
  crossOriginIsolated: boolean;
  version: string;
}

const WLLAMA_DIR = join(ROOT, 'node_modules/@wllama/wllama/esm');

const PAGE = `<!doctype html><meta charset="utf-8"><title>wllama bench</title>
<script type="module">
import { Wllama } from '/wllama/index.js';
// Same measurement as ours: prefill the ids, sample greedily, then decode one token per step
// (sampling included), never stopping at end-of-generation tokens.
window.benchWllama = async ({ url, ids, decode, threads, nCtx }) => {
  const w = new Wllama(
    { 'single-thread/wllama.wasm': '/wllama/single-thread/wllama.wasm', 'multi-thread/wllama.wasm': '/wllama/multi-thread/wllama.wasm' },
    { suppressNativeLog: true, logger: { debug() {}, log() {}, warn: console.warn, error: console.error } },
  );
  const t0 = performance.now();
  await w.loadModelFromUrl(url, { n_ctx: nCtx, n_batch: 512, n_threads: threads, useCache: false });
  const loadMs = performance.now() - t0;
  await w.samplingInit({ temp: 0 });
  const t1 = performance.now();
  await w.decode(ids, {});
  let { token } = await w.samplingSample();
  const t2 = performance.now();
  let n = 1;
  while (n < decode) {
    await w.samplingAccept([token]);
    await w.decode([token], {});
    ({ token } = await w.samplingSample());
    n++;
  }
  const t3 = performance.now();
  const r = {
    loadMs, ttftMs: t2 - t1, prefillTokPerS: ids.length / ((t2 - t1) / 1000), decodeTokPerS: (n - 1) / ((t3 - t2) / 1000),
    decodeTokens: n, threads: w.getNumThreads(), multiThread: w.isMultithread(), crossOriginIsolated: self.crossOriginIsolated,
    version: Wllama.getLibllamaVersion ? Wllama.getLibllamaVersion() : '?',
  };
  await w.exit();
  return r;
};
window.wllamaReady = true;
</script>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.map': 'application/json' };

/** The wllama page, wllama's files and the models, same origin, cross-origin isolated, with Range. */
async function startWllamaServer(files: Record<string, string>, port: number): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    if (path === '/') return void res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    if (path === '/favicon.ico') return void res.writeHead(204).end();
    let file: string | undefined;
    if (path.startsWith('/wllama/')) {
      const p = normalize(join(WLLAMA_DIR, path.slice('/wllama/'.length)));
      if (p.startsWith(WLLAMA_DIR)) file = p;
    } else if (path.startsWith('/models/')) file = files[path.slice('/models/'.length)];
    if (!file || !existsSync(file)) return void res.writeHead(404).end('not found');
    const size = statSync(file).size;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size || start > end) return void res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
    } else res.writeHead(200, { 'Content-Length': size });
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(file, { start, end });
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return server;
}

export interface WllamaModel {
  name: string;
  path: string;
  /** llama.cpp-style shards of `path` (scripts/gguf-split.ts) for files wllama cannot read whole. */
  shards?: string[];
  promptIds: number[];
  decode: number;
}

/** wllama on each model in a fresh browser profile; `threads` is what we ask for (it reports what it got). */
export async function benchWllama(models: WllamaModel[], opts: { threads: number; log: (l: string) => void; failed: string[] }): Promise<(WllamaResult & { name: string; promptTokens: number })[]> {
  // Port 0: any free port (a fixed one may be taken by another run on the machine).
  // a sharded model is served under its shard names; wllama finds the rest from the first one's
  const files = Object.fromEntries(models.flatMap((m) => (m.shards ? m.shards.map((p) => [basename(p), p]) : [[`${m.name}.gguf`, m.path]])));
  const server = await startWllamaServer(files, 0);
  const port = (server.address() as AddressInfo).port;
  const out: (WllamaResult & { name: string; promptTokens: number })[] = [];
  try {
    for (const m of models) {
      const profile = await launchChromiumProfile();
      try {
        const page: Page = await profile.context.newPage();
        page.on('pageerror', (e) => opts.log(`[wllama] page error: ${e.message}`));
        page.on('console', (msg) => msg.type() === 'error' && opts.log(`[wllama console] ${msg.text()}`));
        await page.goto(`http://127.0.0.1:${port}/`);
        await page.waitForFunction(() => 'wllamaReady' in window, undefined, { timeout: 60_000 });
        opts.log(`[wllama ${m.name}]${m.shards ? ` ${m.shards.length} shards,` : ''} prompt ${m.promptIds.length}, decode ${m.decode}, threads asked ${opts.threads}`);
        const r = await page.evaluate(
          (a) => (window as unknown as { benchWllama: (x: typeof a) => Promise<WllamaResult> }).benchWllama(a),
          { url: `http://127.0.0.1:${port}/models/${m.shards ? basename(m.shards[0]) : `${m.name}.gguf`}`, ids: m.promptIds, decode: m.decode, threads: opts.threads, nCtx: m.promptIds.length + m.decode + 16 },
        );
        out.push({ ...r, name: m.name, promptTokens: m.promptIds.length });
      } catch (e) {
        // One model failing (e.g. out of wasm memory) must not lose the rest of the run.
        opts.failed.push(`wllama ${m.name} (${opts.threads} thread${opts.threads === 1 ? '' : 's'}): ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      } finally {
        await profile.close();
      }
    }
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  return out;
}
