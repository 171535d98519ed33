/**
 * Phi-3-small checkpoint (as Microsoft publishes it on Hugging Face) -> our `phi3small` GGUF, as
 * src/model/PHI3SMALL.md lays both out. Everything here works on ByteSources and a byte sink, so
 * the checkpoint is read a row range at a time and the GGUF written tensor by tensor: memory stays
 * at a few chunks whatever the model's size. The CLI (`npm run convert`, scripts/convert.ts) adds
 * the files, the temporary output name and the progress.
 *
 * What is checked before a byte is written: config.json (every key the engine needs, refused by
 * name when missing or not runnable), the tokenizer files, and every tensor's presence, dtype
 * (bf16) and shape against config.json; a tensor the model does not have is refused too.
 */
import { ModelFormatError } from '../common/errors.ts';
import { GGMLType, GGUFValueType, type ByteSource } from './gguf-types.ts';
import { GGUFWriter, writeGGUF, type ByteSink } from './gguf-write.ts';
import { quantize } from './quant/index.ts';
import { q4KMType } from './quant-mix.ts';
import { bf16ToF32, readSafetensorsRows, type SafetensorsTensor } from './safetensors.ts';
import { PHI3_SMALL_EOT_ID, PHI3_SMALL_VOCAB_SIZE, parseTiktoken, phi3SmallVocab } from './tiktoken-vocab.ts';

// ---- config.json -------------------------------------------------------------------------

export interface Phi3SmallHParams {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  context: number;
  eps: number;
  ropeTheta: number;
  longRope: { short: number[]; long: number[]; shortMscale: number; longMscale: number; original: number } | null;
  mupEmbedding: number;
  mupAttn: number;
  mupWidth: number;
  gegeluLimit: number;
  denseEvery: number;
  blockSize: number;
  localBlocks: number;
  vertStride: number;
  homoHead: boolean;
}

function configError(key: string, problem: string): ModelFormatError {
  return new ModelFormatError(`config.json: "${key}" ${problem}`, { field: key });
}

/** Reads and checks config.json; refuses, naming the key, anything the engine cannot run. */
export function parsePhi3SmallConfig(json: unknown): Phi3SmallHParams {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ModelFormatError('config.json is not a JSON object');
  const c = json as Record<string, unknown>;
  if (c.model_type !== 'phi3small') {
    throw configError('model_type', `is ${JSON.stringify(c.model_type)}; this converter reads Phi-3-small checkpoints only ("phi3small")`);
  }
  const has = (k: string) => Object.hasOwn(c, k);
  const need = (k: string): unknown => {
    if (!has(k)) throw configError(k, 'is missing');
    return c[k];
  };
  const int = (k: string, min = 1): number => {
    const v = need(k);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw configError(k, `is ${JSON.stringify(v)}, not an integer >= ${min}`);
    return v;
  };
  const pos = (k: string): number => {
    const v = need(k);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw configError(k, `is ${JSON.stringify(v)}, not a positive number`);
    return v;
  };
  const exactly = (k: string, want: unknown, why: string) => {
    const v = need(k);
    if (v !== want) throw configError(k, `is ${JSON.stringify(v)}; ${why}`);
  };

  const hidden = int('hidden_size');
  const layers = int('num_hidden_layers');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads');
  if (hidden % heads !== 0) throw configError('num_attention_heads', `(${heads}) does not divide hidden_size ${hidden}`);
  if (heads % kvHeads !== 0) throw configError('num_key_value_heads', `(${kvHeads}) does not divide num_attention_heads ${heads}`);
  const headDim = hidden / heads;
  if (headDim % 2 !== 0) throw configError('hidden_size', `/ num_attention_heads = ${headDim}: RoPE needs an even head size`);
  const ffnKey = has('ff_intermediate_size') && c.ff_intermediate_size !== null ? 'ff_intermediate_size' : 'intermediate_size';
  const ffn = int(ffnKey);
  const vocab = int('vocab_size');
  if (vocab !== PHI3_SMALL_VOCAB_SIZE) throw configError('vocab_size', `is ${vocab}; Phi-3-small's tokenizer (cl100k_base and its specials) has ${PHI3_SMALL_VOCAB_SIZE} ids`);
  const context = int('max_position_embeddings');
  const eps = pos('layer_norm_epsilon');
  const ropeTheta = pos('rope_embedding_base');
  exactly('rope_position_scale', 1, 'only 1 (no position interpolation) is supported');
  exactly('mup_use_scaling', true, 'the forward pass assumes muP scaling (mup_use_scaling true)');
  exactly('hidden_act', 'gegelu', 'Phi-3-small uses "gegelu"');
  exactly('tie_word_embeddings', true, 'the output must be tied to the embedding (there is no lm_head)');
  const mupEmbedding = pos('mup_embedding_multiplier');
  const mupAttn = pos('mup_attn_multiplier');
  const mupWidth = pos('mup_width_multiplier');
  const gegeluLimit = pos('gegelu_limit');
  const denseEvery = int('dense_attention_every_n_layers');
  const blockSize = int('blocksparse_block_size');
  const localBlocks = int('blocksparse_num_local_blocks');
  const vertStride = int('blocksparse_vert_stride');
  const homo = need('blocksparse_homo_head_pattern');
  if (typeof homo !== 'boolean') throw configError('blocksparse_homo_head_pattern', `is ${JSON.stringify(homo)}, not true or false`);

  const rs = need('rope_scaling');
  let longRope: Phi3SmallHParams['longRope'] = null;
  if (rs !== null) {
    if (typeof rs !== 'object' || Array.isArray(rs)) throw configError('rope_scaling', 'is neither null nor an object');
    const r = rs as Record<string, unknown>;
    if (r.type !== 'su' && r.type !== 'longrope') throw configError('rope_scaling.type', `is ${JSON.stringify(r.type)}; only "su" / "longrope" (LongRoPE) is supported`);
    const factors = (k: 'short_factor' | 'long_factor'): number[] => {
      const v = r[k];
      if (!Array.isArray(v) || v.length !== headDim / 2 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x <= 0)) {
        throw configError(`rope_scaling.${k}`, `must be ${headDim / 2} positive numbers (head size / 2), got ${Array.isArray(v) ? `${v.length} values` : JSON.stringify(v)}`);
      }
      return v as number[];
    };
    const num = (k: string): number => {
      const v = r[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw configError(`rope_scaling.${k}`, `is ${JSON.stringify(v)}, not a positive number`);
      return v;
    };
    const original = num('original_max_position_embeddings');
    if (!Number.isInteger(original) || original > context) {
      throw configError('rope_scaling.original_max_position_embeddings', `is ${original}; it must be an integer no larger than max_position_embeddings (${context})`);
    }
    longRope = { short: factors('short_factor'), long: factors('long_factor'), shortMscale: num('short_mscale'), longMscale: num('long_mscale'), original };
  }
  return {
    hidden, layers, heads, kvHeads, headDim, ffn, vocab, context, eps, ropeTheta, longRope, mupEmbedding, mupAttn, mupWidth,
    gegeluLimit, denseEvery, blockSize, localBlocks, vertStride, homoHead: homo,
  };
}

// ---- tensors: names, shapes, row orders ----------------------------------------------------

/** A run of output rows: source rows start, start + stride, ... (count of them). */
export interface RowRun {
  start: number;
  count: number;
  stride: number;
}

/**
 * attn_qkv's rows: all q heads, then all k, then all v, where the checkpoint holds per KV group g
 * [q x (heads/kvHeads), k, v] x headDim.
 */
export function qkvRuns(heads: number, kvHeads: number, headDim: number): RowRun[] {
  const n = heads / kvHeads;
  const group = (n + 2) * headDim;
  const runs: RowRun[] = [];
  for (let h = 0; h < heads; h++) runs.push({ start: Math.floor(h / n) * group + (h % n) * headDim, count: headDim, stride: 1 });
  for (let g = 0; g < kvHeads; g++) runs.push({ start: g * group + n * headDim, count: headDim, stride: 1 });
  for (let g = 0; g < kvHeads; g++) runs.push({ start: g * group + (n + 1) * headDim, count: headDim, stride: 1 });
  return runs;
}

/** ffn_up's rows: the gelu half (checkpoint rows 0, 2, 4, ...), then the linear half (1, 3, 5, ...). */
export function upRuns(ffn: number): RowRun[] {
  return [{ start: 0, count: ffn, stride: 2 }, { start: 1, count: ffn, stride: 2 }];
}

/** Source row of each output row, for tests and small tensors. */
export function runsToRows(runs: readonly RowRun[]): number[] {
  const out: number[] = [];
  for (const r of runs) for (let i = 0; i < r.count; i++) out.push(r.start + i * r.stride);
  return out;
}

export type ConvertType = 'f16' | 'bf16' | 'q8_0' | 'q4_k_m';
export const CONVERT_TYPES: readonly ConvertType[] = ['f16', 'bf16', 'q8_0', 'q4_k_m'];

/** general.file_type (llama_ftype) of each output type. */
const FILE_TYPE: Record<ConvertType, number> = { f16: 1, bf16: 32, q8_0: 7, q4_k_m: 15 };

/**
 * The ggml type of a weight matrix. q4_k_m follows llama.cpp's choices for LLAMA_FTYPE_MOSTLY_Q4_K_M:
 * the output (here the tied token_embd, which llama.cpp treats as the output when there is no
 * output.weight) Q6_K, fused attn_qkv Q5_K, ffn_down Q6_K on the more-bits layers, the rest Q4_K.
 * A row length that is not a multiple of 256 cannot be a K-quant: such a tensor is Q8_0.
 */
export function weightType(type: ConvertType, name: string, layer: number, nLayers: number, rowLen: number): GGMLType {
  switch (type) {
    case 'f16': return GGMLType.F16;
    case 'bf16': return GGMLType.BF16;
    case 'q8_0': return GGMLType.Q8_0;
    case 'q4_k_m': {
      if (rowLen % 256 !== 0) return GGMLType.Q8_0;
      return q4KMType(name === 'token_embd.weight' ? 'output.weight' : name, layer, nLayers);
    }
  }
}

/** One GGUF tensor and where its values come from. */
export interface PlannedTensor {
  gguf: string;
  /** GGUF dims: ne[0] = input features. */
  dims: number[];
  type: GGMLType;
  /** The checkpoint tensor, its shape (out, in), and the order of its rows; or fixed values. */
  source: { name: string; shape: number[]; runs: RowRun[] } | { values: Float32Array };
}

/** Every GGUF tensor of the model, in file order, with its checkpoint source. */
export function planTensors(hp: Phi3SmallHParams, type: ConvertType): PlannedTensor[] {
  const { hidden: H, ffn: F, headDim: hd, heads, kvHeads, layers } = hp;
  const qkvRows = (heads + 2 * kvHeads) * hd;
  const ident = (rows: number): RowRun[] => [{ start: 0, count: rows, stride: 1 }];
  const out: PlannedTensor[] = [];
  const weight = (gguf: string, name: string, rows: number, cols: number, runs: RowRun[], layer: number) =>
    out.push({ gguf, dims: [cols, rows], type: weightType(type, gguf, layer, layers, cols), source: { name, shape: [rows, cols], runs } });
  const vector = (gguf: string, name: string, n: number, runs: RowRun[] = ident(n)) =>
    out.push({ gguf, dims: [n], type: GGMLType.F32, source: { name, shape: [n], runs } });
  weight('token_embd.weight', 'model.embed_tokens.weight', hp.vocab, H, ident(hp.vocab), -1);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    const b = `blk.${l}`;
    vector(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`, H);
    vector(`${b}.attn_norm.bias`, `${p}.input_layernorm.bias`, H);
    weight(`${b}.attn_qkv.weight`, `${p}.self_attn.query_key_value.weight`, qkvRows, H, qkvRuns(heads, kvHeads, hd), l);
    vector(`${b}.attn_qkv.bias`, `${p}.self_attn.query_key_value.bias`, qkvRows, qkvRuns(heads, kvHeads, hd));
    weight(`${b}.attn_output.weight`, `${p}.self_attn.dense.weight`, H, H, ident(H), l);
    vector(`${b}.attn_output.bias`, `${p}.self_attn.dense.bias`, H);
    vector(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`, H);
    vector(`${b}.ffn_norm.bias`, `${p}.post_attention_layernorm.bias`, H);
    weight(`${b}.ffn_up.weight`, `${p}.mlp.up_proj.weight`, 2 * F, H, upRuns(F), l);
    vector(`${b}.ffn_up.bias`, `${p}.mlp.up_proj.bias`, 2 * F, upRuns(F));
    weight(`${b}.ffn_down.weight`, `${p}.mlp.down_proj.weight`, H, F, ident(H), l);
    vector(`${b}.ffn_down.bias`, `${p}.mlp.down_proj.bias`, H);
  }
  vector('output_norm.weight', 'model.final_layernorm.weight', H);
  vector('output_norm.bias', 'model.final_layernorm.bias', H);
  if (hp.longRope) {
    out.push({ gguf: 'rope_factors_long.weight', dims: [hd / 2], type: GGMLType.F32, source: { values: Float32Array.from(hp.longRope.long) } });
    out.push({ gguf: 'rope_factors_short.weight', dims: [hd / 2], type: GGMLType.F32, source: { values: Float32Array.from(hp.longRope.short) } });
  }
  return out;
}

// ---- the conversion ----------------------------------------------------------------------

/** A checkpoint tensor and the file that holds it. */
export interface LocatedTensor {
  src: ByteSource;
  tensor: SafetensorsTensor;
  file: string;
}

export interface ConvertInput {
  configJson: string;
  tokenizerConfigJson: string;
  tiktokenText: string;
  /** Every tensor of the checkpoint, by name (the headers of all its safetensors files). */
  tensors: Map<string, LocatedTensor>;
  /** general.name; default from config.json's `_name_or_path`. */
  name?: string;
}

export interface ConvertProgress {
  tensor: string;
  index: number;
  count: number;
  /** Checkpoint bytes read so far, of `totalBytes`. */
  doneBytes: number;
  totalBytes: number;
}

/** Encodes whole rows of bf16 into a ggml type (a worker pool can do it off the main thread). */
export type RowEncoder = (type: GGMLType, bf16: Uint8Array) => Promise<Uint8Array>;

export interface ConvertOptions {
  type: ConvertType;
  onTensor?: (p: ConvertProgress) => void;
  /** Encodes chunks of a weight matrix; default: in this thread. */
  encode?: RowEncoder;
  /** Chunks of one tensor encoded at once (with `encode`); default 1. Output order is kept. */
  inFlight?: number;
}

/** Output rows per chunk: about 16 MiB of f32 at a time. */
const CHUNK_ELEMS = 4 * 1024 * 1024;

function jsonOf(text: string, file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ModelFormatError(`${file} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** A token setting of tokenizer_config.json: a string or `{ content }`. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** Checks that the checkpoint has exactly the planned tensors, as bf16, in the shapes config.json implies. */
export function checkTensors(plan: readonly PlannedTensor[], tensors: ReadonlyMap<string, LocatedTensor>): void {
  const wanted = new Set<string>();
  for (const p of plan) {
    if (!('name' in p.source)) continue;
    const { name, shape } = p.source;
    wanted.add(name);
    const t = tensors.get(name);
    if (!t) throw new ModelFormatError(`the checkpoint has no tensor "${name}" (config.json implies it)`, { field: name });
    if (t.tensor.dtype !== 'BF16') throw new ModelFormatError(`tensor "${name}" in ${t.file} is ${t.tensor.dtype}; Phi-3-small checkpoints are BF16`, { field: name });
    if (t.tensor.shape.length !== shape.length || t.tensor.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFormatError(`tensor "${name}" in ${t.file} has shape [${t.tensor.shape.join(', ')}]; config.json implies [${shape.join(', ')}]`, { field: name });
    }
  }
  for (const [name, t] of tensors) {
    if (!wanted.has(name)) throw new ModelFormatError(`tensor "${name}" in ${t.file} is not part of a Phi-3-small model with this config.json`, { field: name });
  }
}

/** The GGUF header (metadata and tensor infos) of a conversion; checks everything first. */
export function buildPhi3SmallWriter(input: ConvertInput, opts: ConvertOptions): { writer: GGUFWriter; plan: PlannedTensor[]; hp: Phi3SmallHParams } {
  if (!CONVERT_TYPES.includes(opts.type)) throw new ModelFormatError(`unknown output type "${String(opts.type)}" (${CONVERT_TYPES.join(', ')})`);
  const config = jsonOf(input.configJson, 'config.json');
  const hp = parsePhi3SmallConfig(config);
  const tokCfg = jsonOf(input.tokenizerConfigJson, 'tokenizer_config.json');
  for (const k of ['bos_token', 'eos_token']) {
    const t = tokenText(tokCfg[k]);
    if (t !== undefined && t !== '<|endoftext|>') throw new ModelFormatError(`tokenizer_config.json: "${k}" is ${JSON.stringify(t)}; Phi-3-small's is "<|endoftext|>"`, { field: k });
  }
  const template = tokCfg.chat_template;
  if (template !== undefined && typeof template !== 'string') throw new ModelFormatError('tokenizer_config.json: "chat_template" is not a string', { field: 'chat_template' });
  const vocab = phi3SmallVocab(parseTiktoken(input.tiktokenText, 'cl100k_base.tiktoken'));
  const plan = planTensors(hp, opts.type);
  checkTensors(plan, input.tensors);

  const w = new GGUFWriter();
  const A = 'phi3small';
  const u32 = (k: string, v: number) => w.addKV(k, GGUFValueType.UINT32, v);
  const f32 = (k: string, v: number) => w.addKV(k, GGUFValueType.FLOAT32, v);
  w.addKV('general.architecture', GGUFValueType.STRING, A);
  const nameFromConfig = typeof config._name_or_path === 'string' ? config._name_or_path.split('/').pop() : undefined;
  w.addKV('general.name', GGUFValueType.STRING, input.name ?? nameFromConfig ?? 'Phi-3-small');
  u32('general.file_type', FILE_TYPE[opts.type]);
  if (opts.type === 'q8_0' || opts.type === 'q4_k_m') u32('general.quantization_version', 2);
  u32(`${A}.context_length`, hp.context);
  u32(`${A}.embedding_length`, hp.hidden);
  u32(`${A}.block_count`, hp.layers);
  u32(`${A}.feed_forward_length`, hp.ffn);
  u32(`${A}.attention.head_count`, hp.heads);
  u32(`${A}.attention.head_count_kv`, hp.kvHeads);
  f32(`${A}.attention.layer_norm_epsilon`, hp.eps);
  f32(`${A}.rope.freq_base`, hp.ropeTheta);
  u32(`${A}.rope.dimension_count`, hp.headDim);
  if (hp.longRope) {
    u32(`${A}.rope.scaling.original_context_length`, hp.longRope.original);
    f32(`${A}.rope.scaling.short_mscale`, hp.longRope.shortMscale);
    f32(`${A}.rope.scaling.long_mscale`, hp.longRope.longMscale);
  }
  f32(`${A}.mup.embedding_multiplier`, hp.mupEmbedding);
  f32(`${A}.mup.attn_multiplier`, hp.mupAttn);
  f32(`${A}.mup.width_multiplier`, hp.mupWidth);
  f32(`${A}.feed_forward.gegelu_limit`, hp.gegeluLimit);
  u32(`${A}.attention.dense_every_n_layers`, hp.denseEvery);
  u32(`${A}.attention.block_sparse.block_size`, hp.blockSize);
  u32(`${A}.attention.block_sparse.local_blocks`, hp.localBlocks);
  u32(`${A}.attention.block_sparse.vert_stride`, hp.vertStride);
  w.addKV(`${A}.attention.block_sparse.homo_head`, GGUFValueType.BOOL, hp.homoHead);
  w.addKV(`${A}.dummy_token_indices`, GGUFValueType.ARRAY, vocab.dummyIds, GGUFValueType.UINT32);
  w.addKV('tokenizer.ggml.model', GGUFValueType.STRING, 'gpt2');
  w.addKV('tokenizer.ggml.pre', GGUFValueType.STRING, 'cl100k');
  w.addKV('tokenizer.ggml.tokens', GGUFValueType.ARRAY, vocab.tokens, GGUFValueType.STRING);
  w.addKV('tokenizer.ggml.token_type', GGUFValueType.ARRAY, vocab.types, GGUFValueType.INT32);
  w.addKV('tokenizer.ggml.merges', GGUFValueType.ARRAY, vocab.merges, GGUFValueType.STRING);
  u32('tokenizer.ggml.bos_token_id', PHI3_SMALL_EOT_ID);
  u32('tokenizer.ggml.eos_token_id', PHI3_SMALL_EOT_ID);
  w.addKV('tokenizer.ggml.add_bos_token', GGUFValueType.BOOL, false);
  if (typeof template === 'string') w.addKV('tokenizer.chat_template', GGUFValueType.STRING, template);
  for (const p of plan) w.addTensorInfo(p.gguf, p.type, p.dims);
  return { writer: w, plan, hp };
}

/** bf16 bytes -> the output type's bytes, for whole rows. */
function encodeRows(type: GGMLType, bf16: Uint8Array): Uint8Array {
  if (type === GGMLType.BF16) return bf16;
  return quantize(type, bf16ToF32(bf16));
}

/** A planned tensor's output bytes, in chunks of whole rows, read from the checkpoint a range at a time. */
async function* tensorData(p: PlannedTensor, tensors: ReadonlyMap<string, LocatedTensor>, opts: ConvertOptions): AsyncGenerator<Uint8Array> {
  if ('values' in p.source) {
    yield quantize(GGMLType.F32, p.source.values);
    return;
  }
  const { src, tensor } = tensors.get(p.source.name)!;
  const rowLen = p.source.shape.length > 1 ? p.source.shape[1] : 1;
  const rowBytes = 2 * rowLen;
  // A 1-D tensor (norm, bias) is one "row" per element: gather its elements, then convert once.
  const oneD = p.source.shape.length === 1;
  const maxRows = Math.max(1, Math.floor(CHUNK_ELEMS / rowLen));
  const parts: Uint8Array[] = [];
  const encode = opts.encode ?? ((type: GGMLType, bf16: Uint8Array) => Promise.resolve(encodeRows(type, bf16)));
  const inFlight = Math.max(1, opts.inFlight ?? 1);
  // Chunks being encoded, oldest first: yielded in order, at most inFlight at a time.
  const pending: Promise<Uint8Array>[] = [];
  for (const run of p.source.runs) {
    for (let k = 0; k < run.count; k += maxRows) {
      const n = Math.min(maxRows, run.count - k);
      const first = run.start + k * run.stride;
      const span = (n - 1) * run.stride + 1;
      const raw = await readSafetensorsRows(src, tensor, first, span);
      let rows = raw;
      if (run.stride !== 1) {
        rows = new Uint8Array(n * rowBytes);
        for (let i = 0; i < n; i++) rows.set(raw.subarray(i * run.stride * rowBytes, (i * run.stride + 1) * rowBytes), i * rowBytes);
      }
      if (oneD) {
        parts.push(rows.slice());
        continue;
      }
      // bf16 needs no encoding; anything else goes to the encoder, whose result may come later.
      const job = p.type === GGMLType.BF16 ? Promise.resolve(rows) : encode(p.type, rows);
      job.catch(() => {}); // a failure surfaces where the chunk is awaited; none is left unhandled
      pending.push(job);
      if (pending.length >= inFlight) yield await pending.shift()!;
    }
  }
  while (pending.length > 0) yield await pending.shift()!;
  if (oneD) {
    const all = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const b of parts) {
      all.set(b, at);
      at += b.length;
    }
    yield encodeRows(p.type, all);
  }
}

/**
 * Converts a checkpoint, streaming the GGUF to `sink`; returns the bytes written. Throws a
 * ModelFormatError before writing anything when the checkpoint or its config is not one we can run.
 */
export async function convertPhi3Small(input: ConvertInput, opts: ConvertOptions, sink: ByteSink): Promise<{ bytes: number; plan: PlannedTensor[]; hp: Phi3SmallHParams }> {
  const { writer, plan, hp } = buildPhi3SmallWriter(input, opts);
  const sourceBytes = (p: PlannedTensor) => ('name' in p.source ? input.tensors.get(p.source.name)!.tensor.nbytes : 0);
  const totalBytes = plan.reduce((a, p) => a + sourceBytes(p), 0);
  let doneBytes = 0;
  const bytes = await writeGGUF(writer, (i) => {
    const p = plan[i];
    opts.onTensor?.({ tensor: p.gguf, index: i, count: plan.length, doneBytes, totalBytes });
    doneBytes += sourceBytes(p);
    return tensorData(p, input.tensors, opts);
  }, sink);
  return { bytes, plan, hp };
}
