/**
 * Seeded generator of Phi-3-small checkpoints laid out exactly as Microsoft publishes them on
 * Hugging Face (src/model/PHI3SMALL.md, "The checkpoint as published"): `config.json`, bf16
 * `model.safetensors` (or shards `model-0000N-of-0000M.safetensors` with
 * `model.safetensors.index.json`), `cl100k_base.tiktoken` (the real cl100k_base ranks from
 * js-tiktoken, in tiktoken's file format), `tokenizer_config.json` (the published chat template)
 * and `generation_config.json`. The converter's input, without downloading 14.8 GB.
 *
 *   npm run make-checkpoint -- --preset tiny --out models/hf-tiny [--seed 1] [--shards N] [--force]
 *
 * Tensors stream to disk in chunks (bounded memory at any size). Values are bf16 normals drawn by
 * table lookup: each tensor's 65536-entry table holds bf16(mean + std * z) at the midpoints of
 * 65536 equal-probability bins of the normal, and each 32-bit draw of the PRNG picks two entries.
 * The tails stop at 4.3 standard deviations, which a random test model does not miss.
 *
 * Every tensor's values depend only on the seed and the tensor's name, so a sharded checkpoint
 * holds the same tensors as a single-file one.
 *
 * Scales (why the model behaves): the final LayerNorm gives rows of norm ~sqrt(hidden), so the
 * tied logits E . h / width_multiplier have standard deviation ~ embStd sqrt(hidden) / width
 * across the vocabulary: embStd is chosen to make that LOGIT_STD (peaked, clear greedy margins).
 * Each layer's two branches add about as much to the residual stream as the scaled embedding
 * holds, so the output depends on the context and not only on the last token. Attention scores
 * (q.k * attn_multiplier / headDim) get a standard deviation ~1.5; up_proj outputs have a
 * standard deviation of half the gegelu limit, so a few percent are clamped.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { f32ToBf16 } from '../src/model/quant/index.ts';
import { Rng } from '../src/util/rng.ts';
import { jsTiktokenRanks } from './bpe-vocab.ts';

/** The chat template of microsoft/Phi-3-small-{8k,128k}-instruct tokenizer_config.json. */
export const PHI3_SMALL_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

export interface RopeScaling {
  type: 'su' | 'longrope';
  short_factor: number[];
  long_factor: number[];
  short_mscale: number;
  long_mscale: number;
  original_max_position_embeddings: number;
}

/** The config.json values a preset sets (names as Phi3SmallConfig spells them). */
export interface Phi3SmallShape {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  ff_intermediate_size: number;
  vocab_size: number;
  max_position_embeddings: number;
  blocksparse_block_size: number;
  blocksparse_num_local_blocks: number;
  blocksparse_vert_stride: number;
  blocksparse_homo_head_pattern: boolean;
  dense_attention_every_n_layers: number;
  mup_embedding_multiplier: number;
  mup_attn_multiplier: number;
  mup_width_multiplier: number;
  gegelu_limit: number;
  layer_norm_epsilon: number;
  rope_embedding_base: number;
  rope_scaling: RopeScaling | null;
}

/** LongRoPE factors of `n` values: long ones rising from 1 to 8, short ones ~1. */
function longRope(n: number, original: number, longMscale: number): RopeScaling {
  const long = Array.from({ length: n }, (_, i) => Number((1 + (7 * i) / (n - 1)).toFixed(4)));
  const short = Array.from({ length: n }, (_, i) => Number((1 + 0.05 * Math.sin(i)).toFixed(4)));
  return { type: 'su', short_factor: short, long_factor: long, short_mscale: 1.0, long_mscale: longMscale, original_max_position_embeddings: original };
}

const TINY: Phi3SmallShape = {
  hidden_size: 128, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, ff_intermediate_size: 256,
  vocab_size: 100352, max_position_embeddings: 2048,
  blocksparse_block_size: 16, blocksparse_num_local_blocks: 4, blocksparse_vert_stride: 4, blocksparse_homo_head_pattern: false,
  dense_attention_every_n_layers: 2,
  mup_embedding_multiplier: 10, mup_attn_multiplier: 1, mup_width_multiplier: 8,
  gegelu_limit: 4, layer_norm_epsilon: 1e-5, rope_embedding_base: 1e6, rope_scaling: null,
};

const FULL: Phi3SmallShape = {
  ...TINY,
  hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, ff_intermediate_size: 14336,
  max_position_embeddings: 8192, blocksparse_block_size: 64, blocksparse_num_local_blocks: 16, blocksparse_vert_stride: 8,
  gegelu_limit: 20,
};

export const HF_PRESETS = {
  /** 4 layers of width 128 (head dim 32, GQA 4/2), the real 100352-token vocabulary: ~26 MB. */
  tiny: TINY,
  /** tiny with LongRoPE ("su"): 16 factors per set, original context 256 extended to 2048. */
  'tiny-128k': { ...TINY, rope_scaling: longRope(16, 256, 1.19) },
  /** microsoft/Phi-3-small-8k-instruct's shapes: 7.4B parameters, 14.8 GB of bf16. */
  'phi3-small': FULL,
  /** microsoft/Phi-3-small-128k-instruct's shapes: LongRoPE from 8192 to 131072. */
  'phi3-small-128k': { ...FULL, max_position_embeddings: 131072, rope_scaling: longRope(64, 8192, 1.1902380714238083) },
} satisfies Record<string, Phi3SmallShape>;
export type HfPresetName = keyof typeof HF_PRESETS;

export interface HfCheckpointOptions {
  preset: HfPresetName;
  seed?: number;
  /** 1 (default): one `model.safetensors`; N > 1: N shards and the index. */
  shards?: number;
  /** Overrides of the preset's config values. */
  overrides?: Partial<Phi3SmallShape>;
  /** Progress lines (the CLI prints them). */
  log?: (line: string) => void;
}

export interface HfCheckpointResult {
  dir: string;
  config: Record<string, unknown>;
  /** Files written, relative to dir. */
  files: string[];
  /** Bytes of tensor data (bf16) written. */
  tensorBytes: number;
  seconds: number;
}

/** Standard deviation of the logits across the vocabulary: peaked, with clear greedy margins. */
const LOGIT_STD = 4;

interface TensorSpec {
  name: string;
  shape: number[];
  /** The normal each row (each element of a 1-D tensor) draws from. */
  dist: (row: number) => { mean: number; std: number };
}

/** Monte Carlo standard deviation of the gegelu output for u ~ normal(0, s) (deterministic). */
function gegeluStd(s: number, limit: number): number {
  const rng = new Rng(12345);
  let sum = 0;
  let sq = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const g = Math.min(rng.normal() * s, limit);
    const l = Math.max(-limit, Math.min(limit, rng.normal() * s));
    const y = (g / (1 + Math.exp(-1.702 * g))) * (l + 1);
    sum += y;
    sq += y * y;
  }
  return Math.sqrt(sq / n - (sum / n) ** 2);
}

/** The checkpoint's tensors in the order Hugging Face's state dict lists them. */
export function checkpointTensors(c: Phi3SmallShape): TensorSpec[] {
  const H = c.hidden_size;
  const F = c.ff_intermediate_size;
  const heads = c.num_attention_heads;
  const kv = c.num_key_value_heads;
  const hd = H / heads;
  const perGroup = heads / kv + 2;
  const embStd = (LOGIT_STD * c.mup_width_multiplier) / Math.sqrt(H);
  /** What each branch adds to the residual stream: as much as the scaled embedding holds. */
  const branch = embStd * c.mup_embedding_multiplier;
  const qkStd = Math.sqrt((1.5 * Math.sqrt(hd)) / c.mup_attn_multiplier);
  const vStd = 1;
  const upStd = 0.5 * c.gegelu_limit;
  const yStd = gegeluStd(upStd, c.gegelu_limit);
  const fixed = (mean: number, std: number) => () => ({ mean, std });
  const gain = fixed(1, 0.05);
  const shift = fixed(0, 0.02);
  const out: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, H], dist: fixed(0, embStd) }];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    // Checkpoint qkv rows: per KV group, [q x heads/kv, k, v] x headDim; the v rows are the last head of each group.
    const isV = (row: number) => Math.floor(row / hd) % perGroup === perGroup - 1;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [H], dist: gain },
      { name: `${p}.input_layernorm.bias`, shape: [H], dist: shift },
      { name: `${p}.self_attn.query_key_value.weight`, shape: [(heads + 2 * kv) * hd, H], dist: (r) => ({ mean: 0, std: (isV(r) ? vStd : qkStd) / Math.sqrt(H) }) },
      { name: `${p}.self_attn.query_key_value.bias`, shape: [(heads + 2 * kv) * hd], dist: (r) => ({ mean: 0, std: 0.02 * (isV(r) ? vStd : qkStd) }) },
      { name: `${p}.self_attn.dense.weight`, shape: [H, H], dist: fixed(0, branch / (0.6 * vStd * Math.sqrt(H))) },
      { name: `${p}.self_attn.dense.bias`, shape: [H], dist: fixed(0, 0.02 * branch) },
      { name: `${p}.post_attention_layernorm.weight`, shape: [H], dist: gain },
      { name: `${p}.post_attention_layernorm.bias`, shape: [H], dist: shift },
      { name: `${p}.mlp.up_proj.weight`, shape: [2 * F, H], dist: fixed(0, upStd / Math.sqrt(H)) },
      { name: `${p}.mlp.up_proj.bias`, shape: [2 * F], dist: fixed(0, 0.02 * upStd) },
      { name: `${p}.mlp.down_proj.weight`, shape: [H, F], dist: fixed(0, branch / (yStd * Math.sqrt(F))) },
      { name: `${p}.mlp.down_proj.bias`, shape: [H], dist: fixed(0, 0.02 * branch) },
    );
  }
  out.push(
    { name: 'model.final_layernorm.weight', shape: [H], dist: gain },
    { name: 'model.final_layernorm.bias', shape: [H], dist: shift },
  );
  return out;
}

// ---- fast bf16 normals -------------------------------------------------------------------

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

let zTable: Float64Array | undefined;

/** bf16 bits of mean + std * z for the 65536 bin midpoints z of the standard normal. */
function bf16Table(mean: number, std: number): Uint16Array {
  if (!zTable) {
    zTable = new Float64Array(65536);
    for (let i = 0; i < 65536; i++) zTable[i] = normalQuantile((i + 0.5) / 65536);
  }
  const t = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f32ToBf16(mean + std * zTable[i]);
  return t;
}

/** FNV-1a of a string: the tensor's share of the seed. */
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Elements per chunk written: 8 MiB of bf16. */
const CHUNK_ELEMS = 4 * 1024 * 1024;

/** A tensor's bf16 bytes, little-endian, in chunks of whole rows (a row at least). */
function* tensorChunks(t: TensorSpec, seed: number): Generator<Uint8Array> {
  const rng = new Rng((seed ^ hashName(t.name)) >>> 0);
  const rows = t.shape[0];
  const rowLen = t.shape.length > 1 ? t.shape[1] : 1;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMS / rowLen));
  const tables = new Map<string, Uint16Array>();
  // Rows of even length let each u32 fill two values; a 1-D tensor draws one value per element.
  const oneRow = t.shape.length === 1;
  for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
    const nRows = Math.min(rowsPerChunk, rows - r0);
    const n = nRows * rowLen;
    const out = new Uint16Array(n + 1);
    for (let r = 0; r < nRows; r++) {
      const row = r0 + r;
      const { mean, std } = t.dist(row);
      const key = `${mean}/${std}`;
      let table = tables.get(key);
      if (!table) tables.set(key, (table = bf16Table(mean, std)));
      if (oneRow) {
        out[r] = table[rng.u32() & 0xffff];
        continue;
      }
      // mulberry32 inlined (the hot loop), seeded from the tensor's Rng.
      let st = rng.u32();
      const end = (r + 1) * rowLen;
      for (let i = r * rowLen; i < end; i += 2) {
        st = (st + 0x6d2b79f5) | 0;
        let u = Math.imul(st ^ (st >>> 15), st | 1);
        u ^= u + Math.imul(u ^ (u >>> 7), u | 61);
        u ^= u >>> 14;
        out[i] = table[u & 0xffff];
        out[i + 1] = table[(u >>> 16) & 0xffff];
      }
    }
    // bf16 little-endian: on a little-endian host the Uint16Array's bytes are already the file's.
    yield new Uint8Array(out.buffer, 0, 2 * n);
  }
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---- the files ---------------------------------------------------------------------------

/** config.json as published, with the preset's values. */
export function hfConfig(c: Phi3SmallShape): Record<string, unknown> {
  const is128k = c.rope_scaling !== null;
  return {
    _name_or_path: is128k ? 'Phi-3-small-128k-instruct' : 'Phi-3-small-8k-instruct',
    architectures: ['Phi3SmallForCausalLM'],
    attention_dropout_prob: 0.0,
    auto_map: {
      AutoConfig: 'configuration_phi3_small.Phi3SmallConfig',
      AutoModelForCausalLM: 'modeling_phi3_small.Phi3SmallForCausalLM',
      AutoTokenizer: 'tokenization_phi3_small.Phi3SmallTokenizer',
    },
    blocksparse_block_size: c.blocksparse_block_size,
    blocksparse_homo_head_pattern: c.blocksparse_homo_head_pattern,
    blocksparse_num_local_blocks: c.blocksparse_num_local_blocks,
    blocksparse_triton_kernel_block_size: c.blocksparse_block_size,
    blocksparse_vert_stride: c.blocksparse_vert_stride,
    bos_token_id: 100257,
    dense_attention_every_n_layers: c.dense_attention_every_n_layers,
    embedding_dropout_prob: 0.1,
    eos_token_id: 100257,
    ff_dim_multiplier: null,
    ff_intermediate_size: c.ff_intermediate_size,
    ffn_dropout_prob: 0.1,
    gegelu_limit: c.gegelu_limit,
    gegelu_pad_to_256: true,
    hidden_act: 'gegelu',
    hidden_size: c.hidden_size,
    initializer_range: 0.02,
    layer_norm_epsilon: c.layer_norm_epsilon,
    max_position_embeddings: c.max_position_embeddings,
    model_type: 'phi3small',
    mup_attn_multiplier: c.mup_attn_multiplier,
    mup_embedding_multiplier: c.mup_embedding_multiplier,
    mup_use_scaling: true,
    mup_width_multiplier: c.mup_width_multiplier,
    num_attention_heads: c.num_attention_heads,
    num_hidden_layers: c.num_hidden_layers,
    num_key_value_heads: c.num_key_value_heads,
    pad_sequence_to_multiple_of_64: true,
    reorder_and_upcast_attn: false,
    rope_embedding_base: c.rope_embedding_base,
    rope_position_scale: 1.0,
    rope_scaling: c.rope_scaling,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.38.1',
    use_cache: true,
    vocab_size: c.vocab_size,
  };
}

export function hfTokenizerConfig(c: Phi3SmallShape): Record<string, unknown> {
  return {
    added_tokens_decoder: {},
    auto_map: { AutoTokenizer: ['tokenization_phi3_small.Phi3SmallTokenizer', 'tokenization_phi3_small.Phi3SmallTokenizer'] },
    bos_token: '<|endoftext|>',
    chat_template: PHI3_SMALL_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: true,
    eos_token: '<|endoftext|>',
    model_max_length: c.max_position_embeddings,
    pad_token: '<|endoftext|>',
    tokenizer_class: 'Phi3SmallTokenizer',
  };
}

/** cl100k_base's mergeable ranks from js-tiktoken: token bytes by rank (0..100255). */
export function cl100kRanks(): Uint8Array[] {
  const byRank = jsTiktokenRanks('cl100k_base');
  if (byRank.length !== 100256) throw new Error(`make-hf-checkpoint: js-tiktoken's cl100k_base has ${byRank.length} ranks, not 100256`);
  return byRank;
}

/** tiktoken's file format: `base64(token bytes) rank`, one per line, in rank order. */
export function tiktokenFileText(ranks: Uint8Array[]): string {
  return ranks.map((b, r) => `${Buffer.from(b).toString('base64')} ${r}\n`).join('');
}

/** Splits the tensors into `n` consecutive runs of about equal bytes. */
function shardPlan(tensors: TensorSpec[], n: number): TensorSpec[][] {
  if (!Number.isInteger(n) || n < 1 || n > tensors.length) throw new RangeError(`make-hf-checkpoint: --shards must be 1..${tensors.length}, got ${n}`);
  const bytes = tensors.map((t) => 2 * t.shape.reduce((a, d) => a * d, 1));
  const total = bytes.reduce((a, b) => a + b, 0);
  const out: TensorSpec[][] = Array.from({ length: n }, () => []);
  let acc = 0;
  let s = 0;
  tensors.forEach((t, i) => {
    // Move on once this shard has its share, keeping enough tensors for the shards left.
    while (s < n - 1 && out[s].length > 0 && (acc >= ((s + 1) * total) / n || tensors.length - i <= n - 1 - s)) s++;
    out[s].push(t);
    acc += bytes[i];
  });
  return out;
}

/** Writes one safetensors file; returns its tensor bytes. */
async function writeSafetensors(path: string, tensors: TensorSpec[], seed: number, metadata: Record<string, string>, log: (s: string) => void): Promise<number> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const t of tensors) {
    const nbytes = 2 * t.shape.reduce((a, d) => a * d, 1);
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [at, at + nbytes] };
    at += nbytes;
  }
  let json = JSON.stringify(header);
  // The safetensors library pads the header with spaces so the data starts 8-byte aligned.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  const fh = await open(path, 'w');
  try {
    let pos = 0;
    const put = async (b: Uint8Array) => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, b.length - done, pos + done);
        done += bytesWritten;
      }
      pos += b.length;
    };
    await put(len);
    await put(headerBytes);
    for (const t of tensors) {
      for (const chunk of tensorChunks(t, seed)) {
        if (!littleEndian) for (let i = 0; i < chunk.length; i += 2) [chunk[i], chunk[i + 1]] = [chunk[i + 1], chunk[i]];
        await put(chunk);
      }
      if (t.shape.length > 1) log(`  ${t.name} [${t.shape.join(', ')}]`);
    }
  } finally {
    await fh.close();
  }
  return at;
}

/** Writes a whole checkpoint folder; `dir` is created (it must not hold a checkpoint already unless the caller cleared it). */
export async function makeHfCheckpoint(dir: string, opts: HfCheckpointOptions): Promise<HfCheckpointResult> {
  const t0 = performance.now();
  const preset = HF_PRESETS[opts.preset] as Phi3SmallShape | undefined;
  if (!preset) throw new Error(`make-hf-checkpoint: unknown preset "${opts.preset}" (${Object.keys(HF_PRESETS).join(', ')})`);
  const shape: Phi3SmallShape = { ...preset, ...opts.overrides };
  const seed = opts.seed ?? 1;
  const log = opts.log ?? (() => {});
  mkdirSync(dir, { recursive: true });
  const config = hfConfig(shape);
  const files: string[] = [];
  const put = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    files.push(name);
  };
  put('config.json', JSON.stringify(config, null, 2) + '\n');
  put('generation_config.json', JSON.stringify({ _from_model_config: true, bos_token_id: 100257, eos_token_id: [100257, 100266], transformers_version: '4.38.1' }, null, 2) + '\n');
  put('tokenizer_config.json', JSON.stringify(hfTokenizerConfig(shape), null, 2) + '\n');
  put('cl100k_base.tiktoken', tiktokenFileText(cl100kRanks()));

  const tensors = checkpointTensors(shape);
  const n = opts.shards ?? 1;
  const plan = shardPlan(tensors, n);
  let tensorBytes = 0;
  if (n === 1) {
    tensorBytes = await writeSafetensors(join(dir, 'model.safetensors'), tensors, seed, { format: 'pt' }, log);
    files.push('model.safetensors');
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < n; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
      log(`${file}: ${plan[s].length} tensors`);
      tensorBytes += await writeSafetensors(join(dir, file), plan[s], seed, { format: 'pt' }, log);
      for (const t of plan[s]) weightMap[t.name] = file;
      files.push(file);
    }
    put('model.safetensors.index.json', JSON.stringify({ metadata: { total_size: tensorBytes }, weight_map: weightMap }, null, 2) + '\n');
  }
  return { dir, config, files, tensorBytes, seconds: (performance.now() - t0) / 1000 };
}

function parseArgs(argv: string[]): { out: string; opts: HfCheckpointOptions; force: boolean } {
  let out = '';
  let force = false;
  const opts: HfCheckpointOptions = { preset: 'tiny' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--out') out = val();
    else if (a === '--preset') {
      const p = val();
      if (!Object.hasOwn(HF_PRESETS, p)) throw new Error(`unknown preset "${p}" (${Object.keys(HF_PRESETS).join(', ')})`);
      opts.preset = p as HfPresetName;
    } else if (a === '--seed') opts.seed = Number(val());
    else if (a === '--shards') opts.shards = Number(val());
    else if (a === '--force') force = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out) throw new Error('usage: npm run make-checkpoint -- --preset tiny|tiny-128k|phi3-small|phi3-small-128k --out DIR [--seed N] [--shards N] [--force]');
  return { out, opts, force };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { out, opts, force } = parseArgs(process.argv.slice(2));
    if (existsSync(join(out, 'config.json'))) {
      if (!force) throw new Error(`${out} already holds a checkpoint (pass --force to replace it)`);
      // Only the files a checkpoint has: anything else in the folder stays.
      for (const f of readdirSync(out)) {
        if (/^(config|generation_config|tokenizer_config|model\.safetensors\.index)\.json$|\.safetensors$|\.tiktoken$/.test(f)) rmSync(join(out, f));
      }
    }
    const r = await makeHfCheckpoint(out, { ...opts, log: (s) => console.log(s) });
    const mb = r.tensorBytes / 1e6;
    console.log(`wrote ${out}: ${r.files.join(', ')}; ${mb.toFixed(1)} MB of bf16 in ${r.seconds.toFixed(1)} s (${(mb / r.seconds).toFixed(0)} MB/s)`);
  } catch (e) {
    console.error(`make-checkpoint: ${(e as Error).message}`);
    process.exit(1);
  }
}
