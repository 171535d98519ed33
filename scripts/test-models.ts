/**
 * Generated models for tests and benchmarks, cached under .cache/models/<generator hash>/ so a
 * change to the generator (or the codecs it uses) never serves a stale file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTestModel, modelFileName } from './make-test-model.ts';
import type { ModelOptions } from './test-model-spec.ts';
import { makeHfCheckpoint, type HfPresetName } from './make-hf-checkpoint.ts';
import { convertCheckpoint } from './convert.ts';
import type { ConvertType } from '../src/model/phi3small-convert.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = [
  'scripts/make-test-model.ts', 'scripts/test-model-spec.ts', 'scripts/phi3-vocab.ts', 'src/model/gguf-write.ts',
  // The BPE vocabularies: learned on textCorpus, byte-mapped and split by the tokenizer's modules.
  'scripts/bpe-vocab.ts', 'scripts/bpe-small-vocab.ts', 'scripts/bench-tokenizer.ts', 'src/model/bpe-tokenizer.ts', 'src/model/bpe-pretokenize.ts',
  'src/model/tiktoken-vocab.ts', 'src/model/quant-mix.ts',
  // Phi-3-small: checkpoints as published, converted by our converter.
  'scripts/make-hf-checkpoint.ts', 'scripts/convert.ts', 'scripts/convert-worker.ts', 'src/model/phi3small-convert.ts', 'src/model/safetensors.ts',
];

function generatorHash(): string {
  const h = createHash('sha1');
  const quantDir = join(ROOT, 'src/model/quant');
  const files = [...SOURCES.map((f) => join(ROOT, f)), ...readdirSync(quantDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort().map((f) => join(quantDir, f))];
  for (const f of files) h.update(readFileSync(f));
  return h.digest('hex').slice(0, 12);
}

let hash: string | undefined;

export function modelCacheDir(): string {
  hash ??= generatorHash();
  return join(ROOT, '.cache', 'models', hash);
}

/** Path of the generated model for `opts`, generating it first if needed. */
export async function ensureModel(opts: ModelOptions): Promise<string> {
  const path = join(modelCacheDir(), modelFileName(opts));
  if (!existsSync(path)) {
    // Write under a temporary name so an interrupted run never leaves a truncated cached file.
    const tmp = `${path}.${process.pid}.tmp`;
    await makeTestModel(opts, tmp);
    renameSync(tmp, path);
  }
  return path;
}

/** Every generated model the test suites use; generated once, up front, by globalSetup. */
export const TEST_MODELS: ModelOptions[] = [
  { preset: 'tiny', mix: 'f32', seed: 1 },
  { preset: 'tiny', mix: 'q4_0', seed: 1 },
  { preset: 'tiny', mix: 'q8_0', seed: 1 },
  { preset: 'tiny', mix: 'q4_k_m', seed: 1 },
  { preset: 'tiny', mix: 'q4_k_m', seed: 2, nKvHeads: 2 },
  { preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 2048 },
  { preset: 'tiny', mix: 'q8_0', seed: 4, slidingWindow: null },
  { preset: 'tiny', mix: 'q8_0', seed: 5, slidingWindow: 16 },
  { preset: 'tiny', mix: 'q8_0', seed: 5, slidingWindow: null },
  { preset: 'tiny', mix: 'f32', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true, vocab: 'bpe-small' },
  { preset: 'tiny', mix: 'q4_k_m', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true },
  { preset: 'tiny', mix: 'q4_k_m', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true, vocab: 'o200k' },
  { preset: 'small', mix: 'q4_k_m', seed: 1 },
  { preset: 'medium-wide', mix: 'q4_k_m', seed: 1 },
  { preset: 'tiny', mix: 'f32', seed: 9, vocab: 'bpe-small' },
];

/** A generated Phi-3-small checkpoint (scripts/make-hf-checkpoint.ts) and its conversion. */
export interface Phi3SmallModelOptions {
  preset: Extract<HfPresetName, 'tiny' | 'tiny-128k'>;
  type: ConvertType;
  seed?: number;
  /** Shards of the checkpoint (1: one model.safetensors). */
  shards?: number;
}

/** Cached paths of the checkpoint folder (`hf`) and of its converted GGUF (`gguf`), made first if needed. */
export async function ensurePhi3Small(opts: Phi3SmallModelOptions): Promise<{ hf: string; gguf: string }> {
  const seed = opts.seed ?? 1;
  const shards = opts.shards ?? 1;
  const name = `phi3small-${opts.preset}-s${seed}${shards > 1 ? `-sh${shards}` : ''}`;
  const hf = join(modelCacheDir(), `hf-${name}`);
  if (!existsSync(hf)) {
    const tmp = `${hf}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    await makeHfCheckpoint(tmp, { preset: opts.preset, seed, shards });
    renameSync(tmp, hf);
  }
  const gguf = join(modelCacheDir(), `${name}-${opts.type}.gguf`);
  if (!existsSync(gguf)) {
    const tmp = `${gguf}.${process.pid}.tmp`;
    await convertCheckpoint(hf, tmp, { type: opts.type, force: true, threads: 0 });
    renameSync(tmp, gguf);
  }
  return { hf, gguf };
}

/** The converted Phi-3-small checkpoints the test suites use. */
export const PHI3SMALL_TEST_MODELS: Phi3SmallModelOptions[] = [
  { preset: 'tiny', type: 'bf16', seed: 2 },
  { preset: 'tiny', type: 'f16', seed: 2 },
  { preset: 'tiny', type: 'q8_0', seed: 2 },
  { preset: 'tiny-128k', type: 'f16', shards: 2 },
];

/** Generates whatever of TEST_MODELS and PHI3SMALL_TEST_MODELS is not cached yet, one at a time. */
export async function ensureTestModels(log: (line: string) => void = () => {}): Promise<void> {
  const timed = async (make: () => Promise<string>) => {
    const t0 = performance.now();
    const path = await make();
    const ms = performance.now() - t0;
    if (ms > 50) log(`[models] generated ${path.split('/').pop()} in ${(ms / 1000).toFixed(1)} s`);
  };
  for (const opts of TEST_MODELS) await timed(() => ensureModel(opts));
  for (const opts of PHI3SMALL_TEST_MODELS) await timed(async () => (await ensurePhi3Small(opts)).gguf);
}
