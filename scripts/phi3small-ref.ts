/**
 * Phi-3-small computed the way Hugging Face's `modeling_phi3_small.py` computes it, in float64,
 * straight from the checkpoint folder Microsoft publishes (config.json + safetensors). It shares
 * no code with the engine: the safetensors parser, the bf16 decode, the fused-row indexing, the
 * block-sparse pattern and the dummy-id table are all written here again, so an agreement between
 * the two is evidence and not an echo. src/model/PHI3SMALL.md is the contract it follows.
 *
 * Weights are kept as Float32Array holding the exact bf16 (or f16 / f32) values; every sum is a
 * float64 accumulation. Meant for tiny checkpoints: above MAX_PARAMS it refuses to load.
 *
 * CLI: npx tsx scripts/phi3small-ref.ts --hf DIR --ids 1,2,3 --n 8 [--context N]
 * prints {tokens, margins, context, longRope, loadMs, runMs} as JSON; --context is the loaded
 * context length (default max_position_embeddings), which also picks LongRoPE's factor set.
 */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A checkpoint above this many parameters is refused: the reference holds every weight in memory. */
export const MAX_PARAMS = 2e8;

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------

export interface RawTensor {
  dtype: string;
  shape: number[];
  /** The stored values, exactly (bf16 and f16 widen to f32 without rounding). */
  data: Float32Array;
}

const DTYPE_BYTES: Record<string, number> = { BF16: 2, F16: 2, F32: 4 };

/** bf16 is the top half of an f32: the bits shifted left by 16 are the same number. */
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);
export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** IEEE half to number, including subnormals, infinities and NaN. */
export function f16ToF32(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * The header of a safetensors file: 8 bytes little-endian N, then N bytes of JSON mapping each
 * name to dtype, shape and [begin, end) offsets relative to the byte after the header. Checked:
 * the length fits the file, every entry's byte span equals its element count times the dtype
 * size, and lies inside the data section.
 */
export function parseSafetensorsHeader(head: Uint8Array, fileBytes: number): { dataStart: number; entries: Map<string, HeaderEntry> } {
  if (head.length < 8) throw new Error('safetensors: file shorter than its 8-byte header length');
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (8 + n > fileBytes) throw new Error(`safetensors: header length ${n} runs past the end of the file (${fileBytes} bytes)`);
  if (head.length < 8 + n) throw new Error('safetensors: header not fully read');
  const json = JSON.parse(new TextDecoder().decode(head.subarray(8, 8 + n))) as Record<string, unknown>;
  const dataStart = 8 + n;
  const dataBytes = fileBytes - dataStart;
  const entries = new Map<string, HeaderEntry>();
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const e = v as HeaderEntry;
    const size = DTYPE_BYTES[e.dtype];
    if (size === undefined) throw new Error(`safetensors: tensor ${name} has dtype ${e.dtype}; only BF16, F16 and F32 are read`);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const [b0, b1] = e.data_offsets;
    if (!(b0 >= 0 && b1 >= b0 && b1 <= dataBytes)) throw new Error(`safetensors: tensor ${name} offsets [${b0}, ${b1}) outside the data (${dataBytes} bytes)`);
    if (b1 - b0 !== count * size) throw new Error(`safetensors: tensor ${name} spans ${b1 - b0} bytes, shape ${JSON.stringify(e.shape)} ${e.dtype} needs ${count * size}`);
    entries.set(name, e);
  }
  return { dataStart, entries };
}

/** Every tensor of a whole safetensors file held in memory. */
export function parseSafetensors(bytes: Uint8Array): Map<string, RawTensor> {
  const { dataStart, entries } = parseSafetensorsHeader(bytes, bytes.length);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, RawTensor>();
  for (const [name, e] of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    const base = dataStart + e.data_offsets[0];
    // Bytes are assembled little-endian by hand (or through DataView), so any alignment reads
    // right: safetensors does not promise aligned tensors. A bf16 is written as the high half of
    // the f32's bits through a Uint32Array sharing the Float32Array's memory: both views use the
    // host's byte order, so the reinterpretation is exact on any host.
    if (e.dtype === 'BF16') {
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < count; i++) bits[i] = (bytes[base + 2 * i] | (bytes[base + 2 * i + 1] << 8)) << 16;
    } else if (e.dtype === 'F16') for (let i = 0; i < count; i++) data[i] = f16ToF32(dv.getUint16(base + 2 * i, true));
    else for (let i = 0; i < count; i++) data[i] = dv.getFloat32(base + 4 * i, true);
    out.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return out;
}

async function readHeaderOnly(path: string): Promise<Map<string, HeaderEntry>> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const lenBuf = new Uint8Array(8);
    await fh.read(lenBuf, 0, 8, 0);
    const n = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
    if (8 + n > size) throw new Error(`safetensors ${path}: header length ${n} runs past the end of the file`);
    const head = new Uint8Array(8 + n);
    await fh.read(head, 0, 8 + n, 0);
    return parseSafetensorsHeader(head, size).entries;
  } finally {
    await fh.close();
  }
}

/**
 * The files of a checkpoint folder: `model.safetensors`, or the shards named by
 * `model.safetensors.index.json`'s weight_map (each tensor must be in the shard the index says).
 */
async function checkpointFiles(dir: string): Promise<{ files: string[]; where: Map<string, string> | null }> {
  let index: { weight_map?: Record<string, string> } | null = null;
  try {
    index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!index) return { files: ['model.safetensors'], where: null };
  if (!index.weight_map) throw new Error('model.safetensors.index.json has no weight_map');
  const where = new Map(Object.entries(index.weight_map));
  return { files: [...new Set(where.values())].sort(), where };
}

/** Every tensor of a checkpoint folder (single file or shards + index), refusing big checkpoints before reading any data. */
export async function readCheckpointTensors(dir: string, maxParams = MAX_PARAMS): Promise<Map<string, RawTensor>> {
  const { files, where } = await checkpointFiles(dir);
  let params = 0;
  for (const f of files) for (const e of (await readHeaderOnly(join(dir, f))).values()) params += e.shape.reduce((a, b) => a * b, 1);
  if (params > maxParams) {
    throw new Error(`checkpoint in ${dir} has ${params} parameters; the float64 reference reads tiny checkpoints only (at most ${maxParams})`);
  }
  const all = new Map<string, RawTensor>();
  for (const f of files) {
    const bytes = new Uint8Array(await readFile(join(dir, f)));
    for (const [name, t] of parseSafetensors(bytes)) {
      if (all.has(name)) throw new Error(`tensor ${name} appears in more than one shard`);
      if (where && where.get(name) !== f) throw new Error(`tensor ${name} is in ${f} but the index says ${where.get(name) ?? 'nothing'}`);
      all.set(name, t);
    }
  }
  if (where) for (const [name, f] of where) if (!all.has(name)) throw new Error(`index names ${name} in ${f}, which does not hold it`);
  return all;
}

// ---------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------

export interface LongRope {
  shortFactor: number[];
  longFactor: number[];
  shortMscale: number;
  longMscale: number;
  originalMax: number;
}

export interface Phi3SmallConfig {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  maxPositions: number;
  eps: number;
  ropeTheta: number;
  longRope: LongRope | null;
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

/** config.json as PHI3SMALL.md lists it; a missing key or a value this reference cannot run is refused by name. */
export function parseConfig(c: Record<string, unknown>): Phi3SmallConfig {
  const need = (k: string): unknown => {
    if (!(k in c) || c[k] === undefined) throw new Error(`config.json: missing ${k}`);
    return c[k];
  };
  const num = (k: string): number => {
    const v = need(k);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`config.json: ${k} is not a number`);
    return v;
  };
  const int = (k: string): number => {
    const v = num(k);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`config.json: ${k} = ${v} is not a positive integer`);
    return v;
  };
  if (need('model_type') !== 'phi3small') throw new Error(`config.json: model_type ${String(c.model_type)} is not phi3small`);
  if (need('hidden_act') !== 'gegelu') throw new Error(`config.json: hidden_act ${String(c.hidden_act)} is not gegelu`);
  if (need('mup_use_scaling') !== true) throw new Error('config.json: mup_use_scaling must be true (the scores are scaled by mup_attn_multiplier / headDim)');
  if ('tie_word_embeddings' in c && c.tie_word_embeddings !== true) throw new Error('config.json: tie_word_embeddings must be true (there is no lm_head)');
  if (num('rope_position_scale') !== 1) throw new Error(`config.json: rope_position_scale ${String(c.rope_position_scale)} is not 1`);
  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads');
  if (hidden % heads) throw new Error(`config.json: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`);
  if (heads % kvHeads) throw new Error(`config.json: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = hidden / heads;
  if (headDim % 2) throw new Error(`config.json: head size ${headDim} is odd; rotate-half RoPE needs pairs`);
  const ffn = 'ff_intermediate_size' in c && c.ff_intermediate_size != null ? int('ff_intermediate_size') : int('intermediate_size');
  let longRope: LongRope | null = null;
  const rs = c.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs != null) {
    if (rs.type !== 'su' && rs.type !== 'longrope') throw new Error(`config.json: rope_scaling type ${String(rs.type)} is not su or longrope`);
    const arr = (k: string): number[] => {
      const v = rs[k];
      if (!Array.isArray(v) || v.length !== headDim / 2 || v.some((x) => typeof x !== 'number')) throw new Error(`config.json: rope_scaling.${k} must be ${headDim / 2} numbers`);
      return v as number[];
    };
    const sc = (k: string): number => {
      const v = rs[k];
      if (typeof v !== 'number') throw new Error(`config.json: rope_scaling.${k} missing`);
      return v;
    };
    const om = rs.original_max_position_embeddings ?? c.original_max_position_embeddings;
    if (typeof om !== 'number') throw new Error('config.json: rope_scaling needs original_max_position_embeddings');
    longRope = { shortFactor: arr('short_factor'), longFactor: arr('long_factor'), shortMscale: sc('short_mscale'), longMscale: sc('long_mscale'), originalMax: om };
  }
  const homo = need('blocksparse_homo_head_pattern');
  if (typeof homo !== 'boolean') throw new Error('config.json: blocksparse_homo_head_pattern is not a boolean');
  return {
    hidden,
    layers: int('num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    ffn,
    vocab: int('vocab_size'),
    maxPositions: int('max_position_embeddings'),
    eps: num('layer_norm_epsilon'),
    ropeTheta: num('rope_embedding_base'),
    longRope,
    mupEmbedding: num('mup_embedding_multiplier'),
    mupAttn: num('mup_attn_multiplier'),
    mupWidth: num('mup_width_multiplier'),
    gegeluLimit: num('gegelu_limit'),
    denseEvery: need('dense_attention_every_n_layers') === null || c.dense_attention_every_n_layers === 0 ? 0 : int('dense_attention_every_n_layers'),
    blockSize: int('blocksparse_block_size'),
    localBlocks: int('blocksparse_num_local_blocks'),
    vertStride: int('blocksparse_vert_stride'),
    homoHead: homo,
  };
}

// ---------------------------------------------------------------------------------------------
// the pieces of the forward pass
// ---------------------------------------------------------------------------------------------

/**
 * The ids whose logits are -inf, from the specials table in PHI3SMALL.md: <|dummy_id_2|> 100256,
 * the FIM tokens 100258..100260, <|dummy_id_0|> 100264, <|dummy_id_1|> 100265, <|dummy_id_3|>..
 * <|dummy_id_11|> 100267..100275, <|endofprompt|> 100276, <|dummy_id_12|>.. 100277..100351.
 * Not masked: <|endoftext|> 100257, <|system|> 100261, <|user|> 100262, <|assistant|> 100263, <|end|> 100266.
 */
export function dummyTokenIds(): number[] {
  const ids = [100256, 100258, 100259, 100260, 100264, 100265];
  for (let i = 100267; i <= 100351; i++) ids.push(i);
  return ids;
}

/** Layer L is dense iff (L + 1) % dense_attention_every_n_layers == 0; the others are block-sparse (all of them when the key is 0 or null, as Hugging Face's truthiness test has it). */
export function isDenseLayer(cfg: Pick<Phi3SmallConfig, 'denseEvery'>, layer: number): boolean {
  return cfg.denseEvery > 0 && (layer + 1) % cfg.denseEvery === 0;
}

export type SparsePattern = Pick<Phi3SmallConfig, 'heads' | 'blockSize' | 'localBlocks' | 'vertStride' | 'homoHead'>;

/** vLLM's head_sliding_step: heads rotate the vertical columns by this many blocks each (0 when every head shares head 0's pattern). */
export function headSlidingStep(p: SparsePattern): number {
  return p.homoHead ? 0 : Math.max(1, Math.floor(p.vertStride / p.heads));
}

/**
 * On a sparse layer, query head h at position i sees key j iff j <= i and the key's block is one
 * of the local blocks before and including the query's, or a vertical-stride column of head h:
 * (kBlock + h * step + 1) % vert_stride == 0.
 */
export function sparseSees(p: SparsePattern, h: number, i: number, j: number): boolean {
  if (j > i) return false;
  const qb = Math.floor(i / p.blockSize);
  const kb = Math.floor(j / p.blockSize);
  return qb - kb < p.localBlocks || (kb + h * headSlidingStep(p) + 1) % p.vertStride === 0;
}

/** torch.nn.LayerNorm: biased variance over the row, then * w + b. Reads x[xo..xo+n), writes out[oo..). */
export function layerNorm(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, eps: number, out: Float64Array, xo = 0, oo = 0, n = w.length): void {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[xo + i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = x[xo + i] - mean;
    v += d * d;
  }
  const r = 1 / Math.sqrt(v / n + eps);
  for (let i = 0; i < n; i++) out[oo + i] = (x[xo + i] - mean) * r * w[i] + b[i];
}

/**
 * One GEGELU output: the gelu half capped above at limit, the linear half clamped to
 * [-limit, limit], quick-gelu(g) * (l + 1). As in Hugging Face's gegelu, an infinite input passes
 * the clamp unchanged (torch.where(isinf(a), a, a.clamp(...))).
 */
export function gegelu(g: number, l: number, limit: number): number {
  const gc = g === Infinity || g === -Infinity ? g : Math.min(g, limit);
  const lc = l === Infinity || l === -Infinity ? l : Math.min(Math.max(l, -limit), limit);
  return (gc / (1 + Math.exp(-1.702 * gc))) * (lc + 1);
}

/** out[r] = W[r] . x + b[r] for rows [r0, r1) of a row-major [rows, n] matrix; out indexed from 0. */
function matvec(W: Float32Array, b: Float32Array | null, x: Float64Array, n: number, r0: number, r1: number, out: Float64Array, oo = 0): void {
  for (let r = r0; r < r1; r++) {
    let s = b ? b[r] : 0;
    const base = r * n;
    for (let i = 0; i < n; i++) s += W[base + i] * x[i];
    out[oo + r - r0] = s;
  }
}

export interface RopeTable {
  /** frequency of pair i: theta^(-2i/headDim) / factor[i] */
  invFreq: Float64Array;
  /** cos and sin are multiplied by this (1 without LongRoPE) */
  mscale: number;
  long: boolean;
}

/**
 * The RoPE frequencies for a loaded context: without rope_scaling plain theta^(-2i/d); with
 * LongRoPE the long factor set and long_mscale when the context exceeds
 * original_max_position_embeddings, else the short ones, chosen once for the whole context.
 */
export function ropeTable(cfg: Pick<Phi3SmallConfig, 'headDim' | 'ropeTheta' | 'longRope'>, contextLength: number): RopeTable {
  const half = cfg.headDim / 2;
  const invFreq = new Float64Array(half);
  const lr = cfg.longRope;
  const long = lr !== null && contextLength > lr.originalMax;
  const factors = lr ? (long ? lr.longFactor : lr.shortFactor) : null;
  for (let i = 0; i < half; i++) invFreq[i] = cfg.ropeTheta ** ((-2 * i) / cfg.headDim) / (factors ? factors[i] : 1);
  return { invFreq, mscale: lr ? (long ? lr.longMscale : lr.shortMscale) : 1, long };
}

/** NeoX rotate-half on v[o..o+d): pair (i, i + d/2) turns by pos * invFreq[i]; cos and sin carry the mscale. */
export function applyRope(v: Float64Array, o: number, d: number, pos: number, t: RopeTable): void {
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    const a = pos * t.invFreq[i];
    const c = Math.cos(a) * t.mscale;
    const s = Math.sin(a) * t.mscale;
    const x1 = v[o + i];
    const x2 = v[o + half + i];
    v[o + i] = x1 * c - x2 * s;
    v[o + half + i] = x2 * c + x1 * s;
  }
}

// ---------------------------------------------------------------------------------------------
// the model
// ---------------------------------------------------------------------------------------------

interface LayerWeights {
  ln1w: Float32Array;
  ln1b: Float32Array;
  qkvw: Float32Array;
  qkvb: Float32Array;
  densew: Float32Array;
  denseb: Float32Array;
  ln2w: Float32Array;
  ln2b: Float32Array;
  upw: Float32Array;
  upb: Float32Array;
  downw: Float32Array;
  downb: Float32Array;
}

/** What one forward pass can report besides the logits: per layer, every position's attention output before `dense` ([T, hidden]). */
export interface Trace {
  attention?: Float64Array[];
}

export class RefModel {
  readonly cfg: Phi3SmallConfig;
  readonly embed: Float32Array;
  readonly layers: LayerWeights[];
  readonly lnfw: Float32Array;
  readonly lnfb: Float32Array;
  readonly masked: Uint8Array;

  constructor(cfg: Phi3SmallConfig, tensors: Map<string, RawTensor>) {
    this.cfg = cfg;
    const { hidden, heads, kvHeads, headDim, ffn, vocab } = cfg;
    const used = new Set<string>();
    const get = (name: string, shape: number[]): Float32Array => {
      const t = tensors.get(name);
      if (!t) throw new Error(`checkpoint: missing tensor ${name}`);
      if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) throw new Error(`checkpoint: ${name} has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`);
      used.add(name);
      return t.data;
    };
    const qkvRows = (heads + 2 * kvHeads) * headDim;
    this.embed = get('model.embed_tokens.weight', [vocab, hidden]);
    this.layers = [];
    for (let L = 0; L < cfg.layers; L++) {
      const p = `model.layers.${L}.`;
      this.layers.push({
        ln1w: get(p + 'input_layernorm.weight', [hidden]),
        ln1b: get(p + 'input_layernorm.bias', [hidden]),
        qkvw: get(p + 'self_attn.query_key_value.weight', [qkvRows, hidden]),
        qkvb: get(p + 'self_attn.query_key_value.bias', [qkvRows]),
        densew: get(p + 'self_attn.dense.weight', [hidden, hidden]),
        denseb: get(p + 'self_attn.dense.bias', [hidden]),
        ln2w: get(p + 'post_attention_layernorm.weight', [hidden]),
        ln2b: get(p + 'post_attention_layernorm.bias', [hidden]),
        upw: get(p + 'mlp.up_proj.weight', [2 * ffn, hidden]),
        upb: get(p + 'mlp.up_proj.bias', [2 * ffn]),
        downw: get(p + 'mlp.down_proj.weight', [hidden, ffn]),
        downb: get(p + 'mlp.down_proj.bias', [hidden]),
      });
    }
    this.lnfw = get('model.final_layernorm.weight', [hidden]);
    this.lnfb = get('model.final_layernorm.bias', [hidden]);
    if (tensors.has('lm_head.weight')) throw new Error('checkpoint: has lm_head.weight, but Phi-3-small ties the output to the embedding');
    // Rotary inv_freq buffers are derived state, not weights; anything else unread means a layout we do not know.
    const extra = [...tensors.keys()].filter((k) => !used.has(k) && !k.endsWith('rotary_emb.inv_freq'));
    if (extra.length) throw new Error(`checkpoint: tensors this model does not use: ${extra.slice(0, 5).join(', ')}`);
    this.masked = new Uint8Array(vocab);
    for (const id of dummyTokenIds()) if (id < vocab) this.masked[id] = 1;
  }

  /** Row of the fused qkv weight where query head h starts: its KV group g = h / (heads/kvHeads) holds [q x qPerKv, k, v] x headDim. */
  qRow(h: number): number {
    const qPerKv = this.cfg.heads / this.cfg.kvHeads;
    const g = Math.floor(h / qPerKv);
    return (g * (qPerKv + 2) + (h % qPerKv)) * this.cfg.headDim;
  }
  kRow(g: number): number {
    const qPerKv = this.cfg.heads / this.cfg.kvHeads;
    return (g * (qPerKv + 2) + qPerKv) * this.cfg.headDim;
  }
  vRow(g: number): number {
    return this.kRow(g) + this.cfg.headDim;
  }

  /** Does query head h at position i see key j on layer L. */
  sees(layer: number, h: number, i: number, j: number): boolean {
    return isDenseLayer(this.cfg, layer) ? j <= i : sparseSees(this.cfg, h, i, j);
  }

  /** The residual after embedding: embed[id] * mup_embedding_multiplier (Hugging Face skips the multiply when it is not > 0). */
  embedRow(id: number, out: Float64Array, oo = 0): void {
    const { hidden, vocab } = this.cfg;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`token id ${id} outside the vocabulary (0..${vocab - 1})`);
    const m = this.cfg.mupEmbedding > 0 ? this.cfg.mupEmbedding : 1;
    for (let i = 0; i < hidden; i++) out[oo + i] = this.embed[id * hidden + i] * m;
  }

  /** The MLP on one normalized row: up_proj rows 2i (gelu) and 2i+1 (linear) as the checkpoint interleaves them, GEGELU, down_proj. Adds into x[xo..). */
  mlpAdd(lw: LayerWeights, a: Float64Array, x: Float64Array, xo: number, scratch: { u: Float64Array; y: Float64Array }): void {
    const { hidden, ffn, gegeluLimit } = this.cfg;
    matvec(lw.upw, lw.upb, a, hidden, 0, 2 * ffn, scratch.u);
    for (let i = 0; i < ffn; i++) scratch.y[i] = gegelu(scratch.u[2 * i], scratch.u[2 * i + 1], gegeluLimit);
    for (let r = 0; r < hidden; r++) {
      let s = lw.downb[r];
      const base = r * ffn;
      for (let i = 0; i < ffn; i++) s += lw.downw[base + i] * scratch.y[i];
      x[xo + r] += s;
    }
  }

  /**
   * Final LayerNorm, tied logits / mup_width_multiplier (skipped when it is 0, as Hugging Face's
   * truthiness test does), dummy ids -inf. Hugging Face fills them with float32's lowest finite
   * value instead; both take them out of every argmax and give them probability 0.
   */
  head(x: Float64Array, xo = 0): Float64Array {
    const { hidden, vocab, eps, mupWidth } = this.cfg;
    const h = new Float64Array(hidden);
    layerNorm(x, this.lnfw, this.lnfb, eps, h, xo, 0, hidden);
    const out = new Float64Array(vocab);
    matvec(this.embed, null, h, hidden, 0, vocab, out);
    const div = mupWidth === 0 ? 1 : mupWidth;
    for (let v = 0; v < vocab; v++) out[v] = this.masked[v] ? -Infinity : out[v] / div;
    return out;
  }

  /**
   * The whole sequence at once, layer by layer, as Hugging Face runs a prompt: every position's
   * q, k, v, then each position's attention over the keys its mask allows. Returns the last
   * position's logits (only that row of the output is computed).
   */
  logits(ids: number[], contextLength: number, trace?: Trace): Float64Array {
    const { hidden, heads, kvHeads, headDim, eps, layers } = this.cfg;
    checkLength(ids.length, contextLength, this.cfg);
    const T = ids.length;
    const rope = ropeTable(this.cfg, contextLength);
    const scale = this.cfg.mupAttn / headDim;
    const qPerKv = heads / kvHeads;
    const x = new Float64Array(T * hidden);
    for (let t = 0; t < T; t++) this.embedRow(ids[t], x, t * hidden);
    const a = new Float64Array(hidden);
    const q = new Float64Array(T * hidden);
    const k = new Float64Array(T * kvHeads * headDim);
    const v = new Float64Array(T * kvHeads * headDim);
    const att = new Float64Array(T * hidden);
    const p = new Float64Array(T);
    const o = new Float64Array(hidden);
    const scratch = { u: new Float64Array(2 * this.cfg.ffn), y: new Float64Array(this.cfg.ffn) };
    if (trace) trace.attention = [];
    for (let L = 0; L < layers; L++) {
      const lw = this.layers[L];
      for (let t = 0; t < T; t++) {
        layerNorm(x, lw.ln1w, lw.ln1b, eps, a, t * hidden, 0, hidden);
        for (let h = 0; h < heads; h++) {
          const r = this.qRow(h);
          matvec(lw.qkvw, lw.qkvb, a, hidden, r, r + headDim, q, (t * heads + h) * headDim);
          applyRope(q, (t * heads + h) * headDim, headDim, t, rope);
        }
        for (let g = 0; g < kvHeads; g++) {
          const ko = (t * kvHeads + g) * headDim;
          matvec(lw.qkvw, lw.qkvb, a, hidden, this.kRow(g), this.kRow(g) + headDim, k, ko);
          applyRope(k, ko, headDim, t, rope);
          matvec(lw.qkvw, lw.qkvb, a, hidden, this.vRow(g), this.vRow(g) + headDim, v, ko);
        }
      }
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < heads; h++) {
          const g = Math.floor(h / qPerKv);
          attend(q, (t * heads + h) * headDim, k, v, g, kvHeads, headDim, t + 1, (j) => this.sees(L, h, t, j), scale, p, att, (t * heads + h) * headDim);
        }
      }
      if (trace) trace.attention!.push(att.slice());
      for (let t = 0; t < T; t++) {
        matvec(lw.densew, lw.denseb, att.subarray(t * hidden, (t + 1) * hidden), hidden, 0, hidden, o);
        for (let i = 0; i < hidden; i++) x[t * hidden + i] += o[i];
        layerNorm(x, lw.ln2w, lw.ln2b, eps, a, t * hidden, 0, hidden);
        this.mlpAdd(lw, a, x, t * hidden, scratch);
      }
    }
    return this.head(x, (T - 1) * hidden);
  }

  /** An incremental decoder with a KV cache of `contextLength` positions (the whole cache: the heads of one KV group see different blocks). */
  session(contextLength: number): RefSession {
    return new RefSession(this, contextLength);
  }
}

function checkLength(n: number, contextLength: number, cfg: Phi3SmallConfig): void {
  if (!Number.isInteger(contextLength) || contextLength <= 0) throw new Error(`context length ${contextLength} is not a positive integer`);
  if (contextLength > cfg.maxPositions) throw new Error(`context length ${contextLength} exceeds max_position_embeddings ${cfg.maxPositions}`);
  if (n === 0) throw new Error('no tokens');
  if (n > contextLength) throw new Error(`${n} tokens do not fit a context of ${contextLength}`);
}

/**
 * Softmax attention of one query row over keys 0..n-1 of KV group g that `sees` allows, scores
 * q.k * scale, max subtracted before exp; writes the weighted sum of v into out[oo..oo+d).
 */
function attend(
  q: Float64Array,
  qo: number,
  k: Float64Array,
  v: Float64Array,
  g: number,
  kvHeads: number,
  d: number,
  n: number,
  sees: (j: number) => boolean,
  scale: number,
  p: Float64Array,
  out: Float64Array,
  oo: number,
): void {
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    if (!sees(j)) {
      p[j] = -Infinity;
      continue;
    }
    const ko = (j * kvHeads + g) * d;
    let s = 0;
    for (let i = 0; i < d; i++) s += q[qo + i] * k[ko + i];
    p[j] = s * scale;
    if (p[j] > max) max = p[j];
  }
  let sum = 0;
  for (let j = 0; j < n; j++) {
    p[j] = p[j] === -Infinity ? 0 : Math.exp(p[j] - max);
    sum += p[j];
  }
  for (let i = 0; i < d; i++) out[oo + i] = 0;
  for (let j = 0; j < n; j++) {
    if (p[j] === 0) continue;
    const w = p[j] / sum;
    const vo = (j * kvHeads + g) * d;
    for (let i = 0; i < d; i++) out[oo + i] += w * v[vo + i];
  }
}

/**
 * One token at a time with a KV cache (rotated keys and values per layer); the same arithmetic as
 * RefModel.logits for each new position. The cache grows as tokens arrive (doubling), so a long
 * loaded context (which picks LongRoPE's long set) costs memory only for the tokens fed.
 */
export class RefSession {
  readonly model: RefModel;
  readonly contextLength: number;
  pos = 0;
  private kc: Float64Array[];
  private vc: Float64Array[];
  private readonly rope: RopeTable;

  constructor(model: RefModel, contextLength: number) {
    checkLength(1, contextLength, model.cfg);
    this.model = model;
    this.contextLength = contextLength;
    const initial = Math.min(contextLength, 64) * model.cfg.kvHeads * model.cfg.headDim;
    this.kc = model.layers.map(() => new Float64Array(initial));
    this.vc = model.layers.map(() => new Float64Array(initial));
    this.rope = ropeTable(model.cfg, contextLength);
  }

  private reserve(positions: number): void {
    const need = positions * this.model.cfg.kvHeads * this.model.cfg.headDim;
    if (this.kc[0].length >= need) return;
    const size = Math.max(need, 2 * this.kc[0].length);
    const grow = (a: Float64Array): Float64Array => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.kc = this.kc.map(grow);
    this.vc = this.vc.map(grow);
  }

  /** Feeds one token; returns its position's logits, or null when `wantLogits` is false (prompt tokens before the last). */
  step(id: number, wantLogits?: true): Float64Array;
  step(id: number, wantLogits: boolean): Float64Array | null;
  step(id: number, wantLogits = true): Float64Array | null {
    const m = this.model;
    const { hidden, heads, kvHeads, headDim, eps } = m.cfg;
    const t = this.pos;
    if (t >= this.contextLength) throw new Error(`context of ${this.contextLength} positions is full`);
    this.reserve(t + 1);
    const qPerKv = heads / kvHeads;
    const scale = m.cfg.mupAttn / headDim;
    const x = new Float64Array(hidden);
    m.embedRow(id, x);
    const a = new Float64Array(hidden);
    const q = new Float64Array(hidden);
    const att = new Float64Array(hidden);
    const o = new Float64Array(hidden);
    const p = new Float64Array(t + 1);
    const scratch = { u: new Float64Array(2 * m.cfg.ffn), y: new Float64Array(m.cfg.ffn) };
    for (let L = 0; L < m.layers.length; L++) {
      const lw = m.layers[L];
      const K = this.kc[L];
      const V = this.vc[L];
      layerNorm(x, lw.ln1w, lw.ln1b, eps, a, 0, 0, hidden);
      for (let h = 0; h < heads; h++) {
        const r = m.qRow(h);
        matvec(lw.qkvw, lw.qkvb, a, hidden, r, r + headDim, q, h * headDim);
        applyRope(q, h * headDim, headDim, t, this.rope);
      }
      for (let g = 0; g < kvHeads; g++) {
        const ko = (t * kvHeads + g) * headDim;
        matvec(lw.qkvw, lw.qkvb, a, hidden, m.kRow(g), m.kRow(g) + headDim, K, ko);
        applyRope(K, ko, headDim, t, this.rope);
        matvec(lw.qkvw, lw.qkvb, a, hidden, m.vRow(g), m.vRow(g) + headDim, V, ko);
      }
      for (let h = 0; h < heads; h++) {
        attend(q, h * headDim, K, V, Math.floor(h / qPerKv), kvHeads, headDim, t + 1, (j) => m.sees(L, h, t, j), scale, p, att, h * headDim);
      }
      matvec(lw.densew, lw.denseb, att, hidden, 0, hidden, o);
      for (let i = 0; i < hidden; i++) x[i] += o[i];
      layerNorm(x, lw.ln2w, lw.ln2b, eps, a, 0, 0, hidden);
      m.mlpAdd(lw, a, x, 0, scratch);
    }
    this.pos++;
    return wantLogits ? m.head(x) : null;
  }
}

export async function loadCheckpoint(dir: string, maxParams = MAX_PARAMS): Promise<RefModel> {
  const cfg = parseConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
  return new RefModel(cfg, await readCheckpointTensors(dir, maxParams));
}

/** Index of the largest logit (the lowest id on a tie) and the gap to the runner-up. */
export function top2(logits: Float64Array): { id: number; margin: number } {
  let b1 = -1;
  let b2 = -1;
  for (let i = 0; i < logits.length; i++) {
    if (b1 < 0 || logits[i] > logits[b1]) {
      b2 = b1;
      b1 = i;
    } else if (b2 < 0 || logits[i] > logits[b2]) b2 = i;
  }
  return { id: b1, margin: b2 < 0 ? Infinity : logits[b1] - logits[b2] };
}

/**
 * Greedy decoding: the prompt through the cache (logits only at its last position), then nNew
 * tokens, each the argmax of the previous step's logits. margins[i] = top1 - top2 logit of the
 * step that chose tokens[i]; a small margin says a tiny numeric difference could flip that token.
 */
export function greedy(model: RefModel, promptIds: number[], nNew: number, contextLength: number, keepLogits = false): { tokens: number[]; margins: number[]; logits?: Float64Array[] } {
  checkLength(promptIds.length + Math.max(0, nNew - 1), contextLength, model.cfg);
  const s = model.session(contextLength);
  let last: Float64Array | null = null;
  for (let i = 0; i < promptIds.length; i++) last = s.step(promptIds[i], i === promptIds.length - 1);
  const tokens: number[] = [];
  const margins: number[] = [];
  const logits: Float64Array[] = [];
  for (let n = 0; n < nNew; n++) {
    const { id, margin } = top2(last!);
    tokens.push(id);
    margins.push(margin);
    if (keepLogits) logits.push(last!);
    if (n < nNew - 1) last = s.step(id);
  }
  return keepLogits ? { tokens, margins, logits } : { tokens, margins };
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dir = arg('--hf');
  const idsArg = arg('--ids');
  if (!dir || !idsArg) {
    console.error('usage: npx tsx scripts/phi3small-ref.ts --hf DIR --ids 1,2,3 --n 8 [--context N]');
    process.exit(2);
  }
  const ids = idsArg.split(',').map((s) => Number(s.trim()));
  const n = Number(arg('--n') ?? '8');
  const t0 = performance.now();
  const model = await loadCheckpoint(dir);
  const t1 = performance.now();
  const context = Number(arg('--context') ?? String(model.cfg.maxPositions));
  const { tokens, margins } = greedy(model, ids, n, context);
  const t2 = performance.now();
  console.log(JSON.stringify({ tokens, margins, context, longRope: ropeTable(model.cfg, context).long, loadMs: Math.round(t1 - t0), runMs: Math.round(t2 - t1) }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
