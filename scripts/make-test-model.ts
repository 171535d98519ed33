/**
 * Seeded generator of phi3-architecture GGUF files with Phi-3's real vocabulary (or a byte-level
 * BPE one, scripts/bpe-vocab.ts), from a few-MB `tiny` model to Phi-3-mini's full shapes and
 * Q4_K_M type mix (~2.39 GB).
 *
 *   npm run make-model -- --preset tiny --mix q4_k_m --out models/tiny-q4_k_m.gguf
 *     [--seed 1] [--ctx N] [--kv-heads N] [--swa N | --no-swa] [--longrope] [--tied] [--rope-dim N]
 *     [--logit-scale S] [--bigram B] [--vocab phi3 | bpe-small | o200k]
 *
 * Writes tensor by tensor to the file, in chunks, so memory stays small. Tensors of more than
 * POOL_THRESHOLD elements (only in the small and full-size presets) draw each block from a pool of
 * quantized random blocks, each copy with its f16 scale(s) multiplied by a random factor so no two
 * rows are alike: same format, similar statistics, minutes faster at full size. Smaller tensors
 * (everything in `tiny`) are quantized value by value.
 */
import { open } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GGUFValueType, GGML_TYPE_INFO, GGMLType } from '../src/model/gguf-types.ts';
import { GGUFWriter, writeGGUF, type TensorData } from '../src/model/gguf-write.ts';
import { f16ToF32, f32ToF16, quantize } from '../src/model/quant/index.ts';
import { Rng } from '../src/util/rng.ts';
import { o200kVocab, type BpeVocabData } from './bpe-vocab.ts';
import { bpeSmallVocab } from './bpe-small-vocab.ts';
import { phi3Vocab } from './phi3-vocab.ts';
import {
  FILE_TYPE, MIXES, POOL_THRESHOLD, PRESETS, TEST_VOCABS, bigramNext, planModel, vocabOf,
  type Mix, type ModelOptions, type PresetName, type TensorPlan, type TestVocab,
} from './test-model-spec.ts';

const POOL_ELEMS = 128 * 1024;
/** Rows handed to the sink at a time (bounded memory for 32064-row tensors). */
const CHUNK_ELEMS = 4 * 1024 * 1024;

function draw(rng: Rng, init: TensorPlan['init'], n: number): Float32Array {
  const out = new Float32Array(n);
  if (init.kind === 'uniform') {
    for (let i = 0; i < n; i++) out[i] = rng.uniform(init.lo, init.hi);
  } else {
    for (let i = 0; i < n; i++) out[i] = rng.normal() * init.std;
  }
  return out;
}

/** Added to the values of a tensor, by flat element index (the planted bigram of `output`). */
type Addend = (values: Float32Array, start: number) => void;

/** A tensor's data, in chunks of whole blocks. */
function* tensorData(plan: TensorPlan, seed: number, addend?: Addend): Generator<Uint8Array> {
  const rng = new Rng(seed);
  const n = plan.dims.reduce((a, b) => a * b, 1);
  const { blockSize, typeSize } = GGML_TYPE_INFO[plan.type];
  if (n <= POOL_THRESHOLD || plan.type === GGMLType.F32) {
    for (let at = 0; at < n; at += CHUNK_ELEMS) {
      const len = Math.min(CHUNK_ELEMS, n - at);
      const values = draw(rng, plan.init, len);
      addend?.(values, at);
      yield quantize(plan.type, values);
    }
    return;
  }
  const poolBlocks = POOL_ELEMS / blockSize;
  const pool = quantize(plan.type, draw(rng, plan.init, POOL_ELEMS));
  const blocks = n / blockSize;
  const perChunk = Math.max(1, Math.floor(CHUNK_ELEMS / blockSize));
  for (let b = 0; b < blocks; b += perChunk) {
    const count = Math.min(perChunk, blocks - b);
    const out = new Uint8Array(count * typeSize);
    for (let i = 0; i < count; i++) {
      const src = (rng.u32() % poolBlocks) * typeSize;
      out.set(pool.subarray(src, src + typeSize), i * typeSize);
      jitterScales(plan.type, out, i * typeSize, rng.uniform(0.5, 1.5));
    }
    yield out;
  }
}

/** Byte offsets of the f16 scales in a block (d, and dmin for Q4_K/Q5_K), PHI3.md section 5. */
const SCALE_OFFSETS: Partial<Record<GGMLType, number[]>> = {
  [GGMLType.Q4_0]: [0],
  [GGMLType.Q8_0]: [0],
  [GGMLType.Q4_K]: [0, 2],
  [GGMLType.Q5_K]: [0, 2],
  [GGMLType.Q6_K]: [208],
};

/** Multiplies a block's f16 scales by `factor` (the whole block's values scale with it). */
function jitterScales(type: GGMLType, block: Uint8Array, at: number, factor: number): void {
  for (const off of SCALE_OFFSETS[type] ?? []) {
    const o = at + off;
    const v = f16ToF32(block[o] | (block[o + 1] << 8)) * factor;
    const h = f32ToF16(v);
    block[o] = h & 0xff;
    block[o + 1] = h >> 8;
  }
}

/**
 * Output row pi(t) += bigram * embd[t] / dim: after token t, the final hidden state is mostly
 * embd[t] (unit RMS), so the logit of pi(t) rises by about `bigram`. Token 0 is the embedding
 * tensor, whose values are redrawn here from its seed (only for tensors small enough to hold).
 */
function bigramAddend(plan: ReturnType<typeof planModel>, embdSeed: number): Addend {
  const embd = plan.tensors[0];
  const [dim, vocab] = embd.dims;
  const values = draw(new Rng(embdSeed), embd.init, dim * vocab);
  const src = new Int32Array(vocab); // src[pi(t)] = t
  for (let t = 0; t < vocab; t++) src[bigramNext(t, vocab)] = t;
  const k = plan.bigram / dim;
  return (out, start) => {
    for (let i = 0; i < out.length; i++) {
      const e = start + i;
      const row = Math.floor(e / dim);
      out[i] += k * values[src[row] * dim + (e % dim)];
    }
  };
}

export interface MadeModel {
  path: string;
  bytes: number;
  ms: number;
  tensors: number;
}

export function buildWriter(opts: ModelOptions): { writer: GGUFWriter; plan: ReturnType<typeof planModel> } {
  const vocabName = vocabOf(opts);
  const bpe = vocabName === 'bpe-small' ? bpeSmallVocab() : vocabName === 'o200k' ? o200kVocab() : undefined;
  const nVocab = bpe ? bpe.tokens.length : phi3Vocab().tokens.length;
  const plan = planModel(opts, nVocab);
  const s = plan.shape;
  const w = new GGUFWriter();
  const U32 = GGUFValueType.UINT32;
  const F32 = GGUFValueType.FLOAT32;
  const STR = GGUFValueType.STRING;
  const origCtx = s.originalContextLength;
  w.addKV('general.architecture', STR, 'phi3');
  // A BPE model's default name must not contain "phi3": llama.cpp would add Phi-3's RSTRIP rule.
  const name = bpe ? `Phi-4 test ${opts.preset} ${opts.mix} seed ${opts.seed} ${vocabName}` : `Phi3 test ${opts.preset} ${opts.mix} seed ${opts.seed}`;
  w.addKV('general.name', STR, opts.name ?? name);
  w.addKV('general.file_type', U32, FILE_TYPE[opts.mix]);
  w.addKV('general.quantization_version', U32, 2);
  w.addKV('phi3.context_length', U32, s.contextLength);
  w.addKV('phi3.rope.scaling.original_context_length', U32, origCtx);
  w.addKV('phi3.embedding_length', U32, s.dim);
  w.addKV('phi3.feed_forward_length', U32, s.ffnDim);
  w.addKV('phi3.block_count', U32, s.nLayers);
  w.addKV('phi3.attention.head_count', U32, s.nHeads);
  w.addKV('phi3.attention.head_count_kv', U32, s.nKvHeads);
  w.addKV('phi3.attention.layer_norm_rms_epsilon', F32, 1e-5);
  w.addKV('phi3.rope.dimension_count', U32, s.ropeDim);
  w.addKV('phi3.rope.freq_base', F32, 10000);
  const swa = opts.slidingWindow === undefined ? Math.min(2047, s.contextLength - 1) : opts.slidingWindow;
  if (swa !== null) w.addKV('phi3.attention.sliding_window', U32, swa);
  if (s.longRope) w.addKV('phi3.rope.scaling.attn_factor', F32, Math.sqrt(1 + Math.log(s.contextLength / origCtx) / Math.log(origCtx)));
  if (bpe) addBpeTokenizer(w, bpe);
  else addPhi3Tokenizer(w);
  for (const t of plan.tensors) w.addTensorInfo(t.name, t.type, t.dims);
  return { writer: w, plan };
}

/** Phi-3's SentencePiece tokenizer keys (PHI3.md 3.2). */
function addPhi3Tokenizer(w: GGUFWriter): void {
  const vocab = phi3Vocab();
  const U32 = GGUFValueType.UINT32;
  const STR = GGUFValueType.STRING;
  const ARR = GGUFValueType.ARRAY;
  w.addKV('tokenizer.ggml.model', STR, 'llama');
  w.addKV('tokenizer.ggml.pre', STR, 'default');
  w.addKV('tokenizer.ggml.tokens', ARR, vocab.tokens, STR);
  w.addKV('tokenizer.ggml.scores', ARR, vocab.scores, GGUFValueType.FLOAT32);
  w.addKV('tokenizer.ggml.token_type', ARR, vocab.types, GGUFValueType.INT32);
  w.addKV('tokenizer.ggml.bos_token_id', U32, vocab.bosId);
  w.addKV('tokenizer.ggml.eos_token_id', U32, vocab.eosId);
  w.addKV('tokenizer.ggml.unknown_token_id', U32, vocab.unkId);
  w.addKV('tokenizer.ggml.padding_token_id', U32, vocab.padId);
  w.addKV('tokenizer.ggml.add_bos_token', GGUFValueType.BOOL, vocab.addBos);
  w.addKV('tokenizer.ggml.add_eos_token', GGUFValueType.BOOL, vocab.addEos);
  w.addKV('tokenizer.chat_template', STR, vocab.chatTemplate);
}

/** A GPT-2 byte-level BPE tokenizer's keys, as llama.cpp's converter writes them (no scores). */
function addBpeTokenizer(w: GGUFWriter, v: BpeVocabData): void {
  const U32 = GGUFValueType.UINT32;
  const STR = GGUFValueType.STRING;
  const ARR = GGUFValueType.ARRAY;
  w.addKV('tokenizer.ggml.model', STR, 'gpt2');
  w.addKV('tokenizer.ggml.pre', STR, v.pre);
  w.addKV('tokenizer.ggml.tokens', ARR, v.tokens, STR);
  w.addKV('tokenizer.ggml.token_type', ARR, v.types, GGUFValueType.INT32);
  w.addKV('tokenizer.ggml.merges', ARR, v.merges, STR);
  w.addKV('tokenizer.ggml.bos_token_id', U32, v.bosId);
  w.addKV('tokenizer.ggml.eos_token_id', U32, v.eosId);
  w.addKV('tokenizer.ggml.padding_token_id', U32, v.padId);
  w.addKV('tokenizer.ggml.add_bos_token', GGUFValueType.BOOL, v.addBos);
  w.addKV('tokenizer.ggml.add_eos_token', GGUFValueType.BOOL, false);
  w.addKV('tokenizer.chat_template', STR, v.chatTemplate);
}

export async function makeTestModel(opts: ModelOptions, path: string): Promise<MadeModel> {
  const t0 = performance.now();
  const { writer, plan } = buildWriter(opts);
  mkdirSync(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  try {
    const seedOf = (i: number) => (opts.seed * 1_000_003 + i * 7919) >>> 0;
    const bytes = await writeGGUF(
      writer,
      (i): TensorData => {
        const t = plan.tensors[i];
        const addend = t.name === 'output.weight' && plan.bigram > 0 ? bigramAddend(plan, seedOf(0)) : undefined;
        return tensorData(t, seedOf(i), addend);
      },
      async (chunk) => {
        await fh.write(chunk);
      },
    );
    return { path, bytes, ms: performance.now() - t0, tensors: plan.tensors.length };
  } finally {
    await fh.close();
  }
}

/** Conventional file name for a preset/mix, used by tests and benchmarks as a cache key. */
export function modelFileName(opts: ModelOptions): string {
  const extra = [
    opts.nKvHeads !== undefined ? `kv${opts.nKvHeads}` : '',
    opts.contextLength !== undefined ? `ctx${opts.contextLength}` : '',
    opts.slidingWindow === null ? 'noswa' : opts.slidingWindow !== undefined ? `swa${opts.slidingWindow}` : '',
    opts.longRope ? 'longrope' : '',
    opts.tiedOutput ? 'tied' : '',
    opts.ropeDim !== undefined ? `rd${opts.ropeDim}` : '',
    opts.logitScale !== undefined ? `ls${opts.logitScale}` : '',
    opts.bigram !== undefined ? `bg${opts.bigram}` : '',
    opts.vocab !== undefined && opts.vocab !== vocabOf({ preset: opts.preset }) ? opts.vocab : '',
  ].filter(Boolean);
  return [opts.preset, opts.mix, `s${opts.seed}`, ...extra].join('-') + '.gguf';
}

function parseArgs(argv: string[]): { opts: ModelOptions; out: string } {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const preset = (get('--preset') ?? 'tiny') as PresetName;
  const mix = (get('--mix') ?? 'q4_k_m') as Mix;
  if (!(preset in PRESETS)) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
  if (!MIXES.includes(mix)) throw new Error(`--mix must be one of ${MIXES.join(', ')}`);
  const num = (flag: string) => (get(flag) === undefined ? undefined : Number(get(flag)));
  const opts: ModelOptions = {
    preset,
    mix,
    seed: num('--seed') ?? 1,
    contextLength: num('--ctx'),
    nKvHeads: num('--kv-heads'),
    slidingWindow: argv.includes('--no-swa') ? null : num('--swa'),
    longRope: argv.includes('--longrope') || undefined,
    tiedOutput: argv.includes('--tied') || undefined,
    ropeDim: num('--rope-dim'),
    logitScale: num('--logit-scale'),
    bigram: num('--bigram'),
    vocab: get('--vocab') as TestVocab | undefined,
  };
  if (!TEST_VOCABS.includes(opts.vocab ?? 'phi3')) throw new Error(`--vocab must be one of ${TEST_VOCABS.join(', ')}`);
  return { opts, out: get('--out') ?? `models/${modelFileName(opts)}` };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { opts, out } = parseArgs(process.argv.slice(2));
  const made = await makeTestModel(opts, out);
  const mem = process.memoryUsage();
  console.log(
    JSON.stringify({ ...made, seconds: +(made.ms / 1000).toFixed(2), peakRssMB: Math.round(mem.rss / 2 ** 20), options: opts }),
  );
}
