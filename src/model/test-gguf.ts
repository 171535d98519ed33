/**
 * Test helper: small phi3-shaped (or llama-shaped) GGUF files with a vocab-like string array,
 * written through GGUFWriter. Data is seeded random bytes (no meaning as weights); the real
 * test-model generator with numerically meaningful weights lives elsewhere.
 */

import { Rng } from '../util/rng.ts';
import { GGMLType, GGUFValueType } from './gguf-types.ts';
import { GGUFWriter, writeGGUFToBuffer } from './gguf-write.ts';

export interface FixtureOptions {
  arch?: 'phi3' | 'llama';
  dim?: number;
  nLayers?: number;
  nHeads?: number;
  nKvHeads?: number;
  ffnDim?: number;
  vocabSize?: number;
  contextLength?: number;
  /** Written as phi3.attention.sliding_window; null leaves the key out. */
  slidingWindow?: number | null;
  /** Adds rope_factors_long/short tensors and the 128k-style keys. */
  longRope?: boolean;
  /** Type of the 2-D weights (norms stay F32). */
  weightType?: GGMLType;
  alignment?: number;
  /** Keys to leave out. */
  omitKeys?: string[];
  /** Replace the dims of named tensors (nbytes follow the new dims). */
  dims?: Record<string, number[]>;
  /** Tensors to leave out. */
  omitTensors?: string[];
  seed?: number;
}

/** A vocab shaped like Phi-3's: <unk>, <s>, </s>, 256 byte tokens, then word pieces. */
export function fixtureVocab(n: number): { tokens: string[]; scores: Float32Array; types: Int32Array } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256 && tokens.length < n; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const pieces = ['▁the', '▁a', 'é', '▁日本', '語', '▁😀', 'ing', '▁to'];
  for (let i = 0; tokens.length < n; i++) {
    tokens.push(i < pieces.length ? pieces[i] : `▁w${i}`);
    types.push(1);
  }
  const scores = Float32Array.from(tokens, (_, i) => -i);
  return { tokens, scores, types: Int32Array.from(types) };
}

export function fixtureWriter(o: FixtureOptions = {}): GGUFWriter {
  const arch = o.arch ?? 'phi3';
  const dim = o.dim ?? 64;
  const nLayers = o.nLayers ?? 2;
  const nHeads = o.nHeads ?? 4;
  const nKv = o.nKvHeads ?? nHeads;
  const ffn = o.ffnDim ?? 128;
  const vocab = o.vocabSize ?? 300;
  const ctx = o.contextLength ?? (o.longRope ? 131072 : 4096);
  const headDim = dim / nHeads;
  const wt = o.weightType ?? GGMLType.F16;
  const omit = new Set(o.omitKeys ?? []);
  const w = new GGUFWriter({ alignment: o.alignment });
  const kv = (key: string, type: GGUFValueType, value: Parameters<GGUFWriter['addKV']>[2], at?: GGUFValueType) => {
    if (!omit.has(key)) w.addKV(key, type, value, at);
  };

  kv('general.architecture', GGUFValueType.STRING, arch);
  kv('general.name', GGUFValueType.STRING, 'Phi3 fixture');
  kv(`${arch}.context_length`, GGUFValueType.UINT32, ctx);
  kv(`${arch}.embedding_length`, GGUFValueType.UINT32, dim);
  kv(`${arch}.feed_forward_length`, GGUFValueType.UINT32, ffn);
  kv(`${arch}.block_count`, GGUFValueType.UINT32, nLayers);
  kv(`${arch}.attention.head_count`, GGUFValueType.UINT32, nHeads);
  kv(`${arch}.attention.head_count_kv`, GGUFValueType.UINT32, nKv);
  kv(`${arch}.attention.layer_norm_rms_epsilon`, GGUFValueType.FLOAT32, 1e-5);
  kv(`${arch}.rope.dimension_count`, GGUFValueType.UINT32, headDim);
  kv(`${arch}.rope.freq_base`, GGUFValueType.FLOAT32, 10000);
  if (arch === 'phi3' && o.slidingWindow !== null) kv('phi3.attention.sliding_window', GGUFValueType.UINT32, o.slidingWindow ?? 2047);
  if (o.longRope) {
    kv(`${arch}.rope.scaling.original_context_length`, GGUFValueType.UINT32, 4096);
    kv(`${arch}.rope.scaling.attn_factor`, GGUFValueType.FLOAT32, 1.1902381);
  }
  const v = fixtureVocab(vocab);
  kv('tokenizer.ggml.model', GGUFValueType.STRING, 'llama');
  kv('tokenizer.ggml.tokens', GGUFValueType.ARRAY, v.tokens, GGUFValueType.STRING);
  kv('tokenizer.ggml.scores', GGUFValueType.ARRAY, v.scores, GGUFValueType.FLOAT32);
  kv('tokenizer.ggml.token_type', GGUFValueType.ARRAY, v.types, GGUFValueType.INT32);
  kv('tokenizer.ggml.bos_token_id', GGUFValueType.UINT32, 1);
  kv('tokenizer.ggml.eos_token_id', GGUFValueType.UINT32, 2);
  kv('tokenizer.ggml.add_bos_token', GGUFValueType.BOOL, true);
  kv('tokenizer.chat_template', GGUFValueType.STRING, "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}");

  const omitT = new Set(o.omitTensors ?? []);
  const t = (name: string, type: GGMLType, dims: number[]) => {
    if (!omitT.has(name)) w.addTensorInfo(name, type, o.dims?.[name] ?? dims);
  };
  t('token_embd.weight', wt, [dim, vocab]);
  if (o.longRope) {
    t('rope_factors_long.weight', GGMLType.F32, [headDim / 2]);
    t('rope_factors_short.weight', GGMLType.F32, [headDim / 2]);
  }
  for (let l = 0; l < nLayers; l++) {
    const b = `blk.${l}.`;
    t(`${b}attn_norm.weight`, GGMLType.F32, [dim]);
    if (arch === 'phi3') {
      t(`${b}attn_qkv.weight`, wt, [dim, dim + 2 * nKv * headDim]);
    } else {
      t(`${b}attn_q.weight`, wt, [dim, dim]);
      t(`${b}attn_k.weight`, wt, [dim, nKv * headDim]);
      t(`${b}attn_v.weight`, wt, [dim, nKv * headDim]);
    }
    t(`${b}attn_output.weight`, wt, [dim, dim]);
    t(`${b}ffn_norm.weight`, GGMLType.F32, [dim]);
    if (arch === 'phi3') {
      t(`${b}ffn_up.weight`, wt, [dim, 2 * ffn]);
    } else {
      t(`${b}ffn_gate.weight`, wt, [dim, ffn]);
      t(`${b}ffn_up.weight`, wt, [dim, ffn]);
    }
    t(`${b}ffn_down.weight`, wt, [ffn, dim]);
  }
  t('output_norm.weight', GGMLType.F32, [dim]);
  t('output.weight', wt, [dim, vocab]);
  return w;
}

/** Seeded random bytes for each tensor of `w`. */
export function fixtureData(w: GGUFWriter, seed = 1): Uint8Array[] {
  const rng = new Rng(seed);
  return w.tensorInfos.map((t) => {
    const d = new Uint8Array(t.nbytes);
    for (let i = 0; i < d.length; i++) d[i] = rng.u32() & 0xff;
    return d;
  });
}

export function fixtureFile(o: FixtureOptions = {}): Uint8Array {
  const w = fixtureWriter(o);
  return writeGGUFToBuffer(w, fixtureData(w, o.seed ?? 1));
}
