/**
 * Generated models for tests and benchmarks, cached under .cache/models/<generator hash>/ so a
 * change to the generator (or the codecs it uses) never serves a stale file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTestModel, modelFileName } from './make-test-model.ts';
import type { ModelOptions } from './test-model-spec.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = [
  'scripts/make-test-model.ts', 'scripts/test-model-spec.ts', 'scripts/phi3-vocab.ts', 'src/model/gguf-write.ts',
  // The BPE vocabularies: learned on textCorpus, byte-mapped and split by the tokenizer's modules.
  'scripts/bpe-vocab.ts', 'scripts/bpe-small-vocab.ts', 'scripts/bench-tokenizer.ts', 'src/model/bpe-tokenizer.ts', 'src/model/bpe-pretokenize.ts',
  'src/model/tiktoken-vocab.ts', 'src/model/quant-mix.ts',
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

/** Generates whatever of TEST_MODELS is not cached yet, one at a time. */
export async function ensureTestModels(log: (line: string) => void = () => {}): Promise<void> {
  for (const opts of TEST_MODELS) {
    const t0 = performance.now();
    const path = await ensureModel(opts);
    const ms = performance.now() - t0;
    if (ms > 50) log(`[models] generated ${path.split('/').pop()} in ${(ms / 1000).toFixed(1)} s`);
  }
}
