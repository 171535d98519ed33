/**
 * Converts a Phi-3-small checkpoint folder, as Microsoft publishes it on Hugging Face, into our
 * `phi3small` GGUF (src/model/PHI3SMALL.md; the conversion itself is src/model/phi3small-convert.ts).
 *
 *   npm run convert -- --hf DIR --out FILE.gguf [--type f16|bf16|q8_0|q4_k_m] [--force] [--name NAME] [--threads N]
 *
 * DIR holds config.json, tokenizer_config.json, cl100k_base.tiktoken and model.safetensors or
 * model.safetensors.index.json with its shards. The GGUF is written to a temporary name beside
 * FILE and renamed only when complete, so FILE is never a half-written file. Default type q4_k_m,
 * whose K-quants run on a pool of worker threads (`--threads`, default one per core up to 16).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ModelFormatError } from '../src/common/errors.ts';
import type { GGMLType } from '../src/model/gguf-types.ts';
import { CONVERT_TYPES, convertPhi3Small, type ConvertType, type LocatedTensor } from '../src/model/phi3small-convert.ts';
import { parseShardIndex, readSafetensorsHeader } from '../src/model/safetensors.ts';
import { fileSource, type FileByteSource } from '../src/model/source-node.ts';

export interface ConvertFileOptions {
  type?: ConvertType;
  /** Worker threads that quantize (default: the machine's cores, up to 16; 0: quantize in this thread). */
  threads?: number;
  /** Replace an existing output file. */
  force?: boolean;
  name?: string;
  log?: (line: string) => void;
}

export interface ConvertFileResult {
  out: string;
  bytes: number;
  seconds: number;
  /** Peak resident set size of this process so far, in bytes. */
  peakRss: number;
}

/** A refusal of the CLI's own (files, arguments): shown as the message alone. */
export class ConvertError extends Error {
  override name = 'ConvertError';
}

function readText(dir: string, file: string): string {
  const p = join(dir, file);
  if (!existsSync(p)) throw new ConvertError(`${dir} has no ${file}: a Phi-3-small checkpoint folder holds config.json, tokenizer_config.json, cl100k_base.tiktoken and model.safetensors (or model.safetensors.index.json and its shards)`);
  return readFileSync(p, 'utf8');
}

/** tsx's ESM API (require.resolve finds its CommonJS build, which cannot register from an ES module). */
const TSX_API = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
const WORKER_URL = new URL('./convert-worker.ts', import.meta.url).href;

/** A pool of quantizing worker threads (scripts/convert-worker.ts), one job per idle worker. */
class EncoderPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { type: GGMLType; bf16: Uint8Array; resolve: (b: Uint8Array) => void; reject: (e: Error) => void }[] = [];
  private readonly jobs = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private dead: Error | undefined;
  private closing = false;

  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      // The worker is TypeScript: it registers tsx's loader, then imports the module.
      const w = new Worker(`import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); });`, { eval: true });
      w.on('message', (m: { id: number; out?: Uint8Array; error?: string }) => {
        const job = this.jobs.get(m.id);
        this.jobs.delete(m.id);
        if (m.error !== undefined || !m.out) job?.reject(new Error(`quantizing worker: ${m.error ?? 'no result'}`));
        else job?.resolve(m.out);
        this.idle.push(w);
        this.pump();
      });
      const fail = (e: Error) => {
        this.dead = e;
        for (const j of this.jobs.values()) j.reject(e);
        this.jobs.clear();
        for (const q of this.queue.splice(0)) q.reject(e);
      };
      w.on('error', fail);
      w.on('exit', (code) => {
        if (!this.closing) fail(new Error(`a quantizing worker exited (code ${code})`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  encode = (type: GGMLType, bf16: Uint8Array): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      if (this.dead) {
        reject(this.dead);
        return;
      }
      this.queue.push({ type, bf16, resolve, reject });
      this.pump();
    });

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { type, bf16, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      this.jobs.set(id, { resolve, reject });
      const whole = bf16.byteOffset === 0 && bf16.byteLength === bf16.buffer.byteLength;
      w.postMessage({ id, type, bf16 }, whole ? [bf16.buffer as ArrayBuffer] : []);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Opens every safetensors file of the checkpoint and maps each tensor to its file. */
async function openTensors(dir: string, sources: FileByteSource[]): Promise<Map<string, LocatedTensor>> {
  const indexPath = join(dir, 'model.safetensors.index.json');
  const single = join(dir, 'model.safetensors');
  const tensors = new Map<string, LocatedTensor>();
  const load = async (file: string) => {
    const p = join(dir, file);
    if (!existsSync(p)) throw new ConvertError(`${dir} has no ${file}${file === 'model.safetensors' ? '' : ' (listed in model.safetensors.index.json)'}`);
    const src = await fileSource(p);
    sources.push(src);
    const h = await readSafetensorsHeader(src);
    return { src, h };
  };
  if (existsSync(indexPath)) {
    const index = parseShardIndex(readFileSync(indexPath, 'utf8'));
    for (const file of index.shards) {
      const { src, h } = await load(file);
      for (const t of h.tensors.values()) {
        const mapped = index.weightMap.get(t.name);
        if (mapped !== file) {
          throw new ModelFormatError(`tensor "${t.name}" is in ${file} but model.safetensors.index.json ${mapped ? `puts it in ${mapped}` : 'does not list it'}`, { field: t.name });
        }
        tensors.set(t.name, { src, tensor: t, file });
      }
    }
    for (const [name, file] of index.weightMap) {
      if (!tensors.has(name)) throw new ModelFormatError(`model.safetensors.index.json puts tensor "${name}" in ${file}, which does not hold it`, { field: name });
    }
  } else if (existsSync(single)) {
    const { src, h } = await load('model.safetensors');
    for (const t of h.tensors.values()) tensors.set(t.name, { src, tensor: t, file: 'model.safetensors' });
  } else {
    throw new ConvertError(`${dir} has neither model.safetensors nor model.safetensors.index.json`);
  }
  return tensors;
}

/** Converts the checkpoint in `hfDir` to the GGUF `out`. */
export async function convertCheckpoint(hfDir: string, out: string, opts: ConvertFileOptions = {}): Promise<ConvertFileResult> {
  const t0 = performance.now();
  const type = opts.type ?? 'q4_k_m';
  const log = opts.log ?? (() => {});
  if (!CONVERT_TYPES.includes(type)) throw new ConvertError(`unknown --type "${String(type)}": one of ${CONVERT_TYPES.join(', ')}`);
  if (!existsSync(hfDir) || !statSync(hfDir).isDirectory()) throw new ConvertError(`${hfDir} is not a folder`);
  if (existsSync(out) && !opts.force) throw new ConvertError(`${out} already exists (pass --force to replace it)`);
  if (!existsSync(dirname(out) || '.')) throw new ConvertError(`the folder of ${out} does not exist`);
  const configJson = readText(hfDir, 'config.json');
  const tokenizerConfigJson = readText(hfDir, 'tokenizer_config.json');
  const tiktokenText = readText(hfDir, 'cl100k_base.tiktoken');

  const sources: FileByteSource[] = [];
  // f16/bf16/q8_0 encode faster than the disk reads; the K-quants of q4_k_m need every core.
  const threads = type === 'q4_k_m' ? Math.min(16, opts.threads ?? availableParallelism()) : 0;
  const pool = threads > 0 ? new EncoderPool(threads) : undefined;
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.partial`);
  let done = false;
  try {
    const tensors = await openTensors(hfDir, sources);
    const fh = await open(tmp, 'w');
    let bytes = 0;
    try {
      let pos = 0;
      let lastPct = -1;
      const r = await convertPhi3Small({ configJson, tokenizerConfigJson, tiktokenText, tensors, name: opts.name }, {
        type,
        ...(pool ? { encode: pool.encode, inFlight: 2 * pool.size } : {}),
        onTensor: (p) => {
          const pct = p.totalBytes ? Math.floor((100 * p.doneBytes) / p.totalBytes) : 100;
          if (pct !== lastPct || p.index === 0) log(`[${String(pct).padStart(3)}%] ${p.index + 1}/${p.count} ${p.tensor}`);
          lastPct = pct;
        },
      }, async (chunk) => {
        let w = 0;
        while (w < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, w, chunk.length - w, pos + w);
          w += bytesWritten;
        }
        pos += chunk.length;
      });
      bytes = r.bytes;
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, out);
    done = true;
    return { out, bytes, seconds: (performance.now() - t0) / 1000, peakRss: process.resourceUsage().maxRSS * 1024 };
  } finally {
    for (const s of sources) await s.close();
    await pool?.close();
    if (!done) await unlink(tmp).catch(() => {});
  }
}

function parseArgs(argv: string[]): { hf: string; out: string; opts: ConvertFileOptions } {
  let hf = '';
  let out = '';
  const opts: ConvertFileOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new ConvertError(`${a} needs a value`);
      return v;
    };
    if (a === '--hf') hf = val();
    else if (a === '--out') out = val();
    else if (a === '--type') {
      const t = val();
      if (!(CONVERT_TYPES as readonly string[]).includes(t)) throw new ConvertError(`unknown --type "${t}": one of ${CONVERT_TYPES.join(', ')}`);
      opts.type = t as ConvertType;
    } else if (a === '--name') opts.name = val();
    else if (a === '--threads') {
      const n = Number(val());
      if (!Number.isInteger(n) || n < 0) throw new ConvertError(`--threads must be a whole number, got ${argv[i]}`);
      opts.threads = n;
    }
    else if (a === '--force') opts.force = true;
    else throw new ConvertError(`unknown argument ${a}`);
  }
  if (!hf || !out) throw new ConvertError('usage: npm run convert -- --hf DIR --out FILE.gguf [--type f16|bf16|q8_0|q4_k_m] [--force] [--name NAME] [--threads N]');
  return { hf, out, opts };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { hf, out, opts } = parseArgs(process.argv.slice(2));
    const r = await convertCheckpoint(hf, out, { ...opts, log: (s) => console.log(s) });
    console.log(`wrote ${r.out}: ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(1)} s, peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB`);
  } catch (e) {
    const err = e as Error;
    console.error(`convert: ${err.name === 'ConvertError' ? '' : `${err.name}: `}${err.message}`);
    process.exit(1);
  }
}
