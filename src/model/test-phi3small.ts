/**
 * Test helper: a tiny `phi3small` GGUF (src/model/PHI3SMALL.md's tensors and keys) with seeded
 * random weights of a sensible scale (so a forward pass through it is numerically meaningful:
 * logits of order 1 to 10, no overflow), in f32 or f16. The biases and norm biases are f32, as the
 * converter writes them.
 */
import { Rng } from '../util/rng.ts';
import { f32ToF16 } from './quant/index.ts';
import { GGMLType, GGUFValueType } from './gguf-types.ts';
import { GGUFWriter, writeGGUFToBuffer } from './gguf-write.ts';

export interface Phi3SmallFixture {
  dim?: number;
  nLayers?: number;
  nHeads?: number;
  nKvHeads?: number;
  ffnDim?: number;
  vocabSize?: number;
  contextLength?: number;
  /** Adds rope_factors_long/short, original_context_length and the two mscales (the 128k variant). */
  longRope?: boolean;
  /** rope.scaling.original_context_length with longRope (default 8192). */
  originalContext?: number;
  /** Type of the 2-D weights: F32 (default) or F16. */
  weightType?: GGMLType;
  denseEvery?: number;
  blockSize?: number;
  localBlocks?: number;
  vertStride?: number;
  homoHead?: boolean;
  maskedIds?: number[];
  /** mup.width_multiplier (default 8: a power of two, folded exactly into the final norm). */
  widthMultiplier?: number;
  gegeluLimit?: number;
  /** Keys to leave out, and tensors to leave out or add. */
  omitKeys?: string[];
  omitTensors?: string[];
  extraTensors?: string[];
  seed?: number;
}

/** The file's bytes. */
export function phi3smallFile(o: Phi3SmallFixture = {}): Uint8Array {
  const dim = o.dim ?? 64;
  const nLayers = o.nLayers ?? 2;
  const nHeads = o.nHeads ?? 4;
  const nKv = o.nKvHeads ?? 2;
  const ffn = o.ffnDim ?? 96;
  const vocab = o.vocabSize ?? 300;
  const headDim = dim / nHeads;
  const ctx = o.contextLength ?? (o.longRope ? 131072 : 8192);
  const wt = o.weightType ?? GGMLType.F32;
  const rng = new Rng(o.seed ?? 1);
  const omit = new Set(o.omitKeys ?? []);
  const w = new GGUFWriter();
  const kv = (key: string, type: GGUFValueType, value: Parameters<GGUFWriter['addKV']>[2], at?: GGUFValueType) => {
    if (!omit.has(key)) w.addKV(key, type, value, at);
  };
  const p = 'phi3small.';
  kv('general.architecture', GGUFValueType.STRING, 'phi3small');
  kv('general.name', GGUFValueType.STRING, 'Phi3small fixture');
  kv(`${p}context_length`, GGUFValueType.UINT32, ctx);
  kv(`${p}embedding_length`, GGUFValueType.UINT32, dim);
  kv(`${p}feed_forward_length`, GGUFValueType.UINT32, ffn);
  kv(`${p}block_count`, GGUFValueType.UINT32, nLayers);
  kv(`${p}attention.head_count`, GGUFValueType.UINT32, nHeads);
  kv(`${p}attention.head_count_kv`, GGUFValueType.UINT32, nKv);
  kv(`${p}attention.layer_norm_epsilon`, GGUFValueType.FLOAT32, 1e-5);
  kv(`${p}rope.freq_base`, GGUFValueType.FLOAT32, 1000000);
  kv(`${p}rope.dimension_count`, GGUFValueType.UINT32, headDim);
  if (o.longRope) {
    kv(`${p}rope.scaling.original_context_length`, GGUFValueType.UINT32, o.originalContext ?? 8192);
    kv(`${p}rope.scaling.short_mscale`, GGUFValueType.FLOAT32, 1.25);
    kv(`${p}rope.scaling.long_mscale`, GGUFValueType.FLOAT32, 1.5);
  }
  kv(`${p}mup.embedding_multiplier`, GGUFValueType.FLOAT32, 10);
  kv(`${p}mup.attn_multiplier`, GGUFValueType.FLOAT32, 1);
  kv(`${p}mup.width_multiplier`, GGUFValueType.FLOAT32, o.widthMultiplier ?? 8);
  kv(`${p}feed_forward.gegelu_limit`, GGUFValueType.FLOAT32, o.gegeluLimit ?? 20);
  kv(`${p}attention.dense_every_n_layers`, GGUFValueType.UINT32, o.denseEvery ?? 2);
  kv(`${p}attention.block_sparse.block_size`, GGUFValueType.UINT32, o.blockSize ?? 4);
  kv(`${p}attention.block_sparse.local_blocks`, GGUFValueType.UINT32, o.localBlocks ?? 2);
  kv(`${p}attention.block_sparse.vert_stride`, GGUFValueType.UINT32, o.vertStride ?? 3);
  kv(`${p}attention.block_sparse.homo_head`, GGUFValueType.BOOL, o.homoHead ?? false);
  kv(`${p}dummy_token_indices`, GGUFValueType.ARRAY, Uint32Array.from(o.maskedIds ?? [vocab - 1, vocab - 3]), GGUFValueType.UINT32);
  const tokens = Array.from({ length: vocab }, (_, i) => `t${i}`);
  kv('tokenizer.ggml.model', GGUFValueType.STRING, 'gpt2');
  kv('tokenizer.ggml.tokens', GGUFValueType.ARRAY, tokens, GGUFValueType.STRING);

  const omitT = new Set(o.omitTensors ?? []);
  const data: Uint8Array[] = [];
  // values uniform in [-a, a]; 2-D weights in wt, vectors in f32
  const tensor = (name: string, dims: number[], a: number, centre = 0, type = dims.length > 1 ? wt : GGMLType.F32) => {
    if (omitT.has(name)) return;
    const n = dims.reduce((x, y) => x * y, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = centre + a * (2 * rng.next() - 1);
    w.addTensorInfo(name, type, dims);
    if (type === GGMLType.F16) {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = f32ToF16(v[i]);
      data.push(new Uint8Array(h.buffer));
    } else {
      data.push(new Uint8Array(v.buffer));
    }
  };
  const lin = 1 / Math.sqrt(dim); // a row of Wx has variance ~ 1/3 for x of unit variance
  tensor('token_embd.weight', [dim, vocab], 0.5);
  if (o.longRope) {
    tensor('rope_factors_long.weight', [headDim / 2], 3, 4); // in [1, 7]
    tensor('rope_factors_short.weight', [headDim / 2], 0.4, 1.2);
  }
  for (let l = 0; l < nLayers; l++) {
    const b = `blk.${l}.`;
    tensor(`${b}attn_norm.weight`, [dim], 0.3, 1);
    tensor(`${b}attn_norm.bias`, [dim], 0.1);
    tensor(`${b}attn_qkv.weight`, [dim, dim + 2 * nKv * headDim], 1.5 * lin);
    tensor(`${b}attn_qkv.bias`, [dim + 2 * nKv * headDim], 0.2);
    tensor(`${b}attn_output.weight`, [dim, dim], lin);
    tensor(`${b}attn_output.bias`, [dim], 0.1);
    tensor(`${b}ffn_norm.weight`, [dim], 0.3, 1);
    tensor(`${b}ffn_norm.bias`, [dim], 0.1);
    tensor(`${b}ffn_up.weight`, [dim, 2 * ffn], 2 * lin);
    tensor(`${b}ffn_up.bias`, [2 * ffn], 0.2);
    tensor(`${b}ffn_down.weight`, [ffn, dim], 1 / Math.sqrt(ffn));
    tensor(`${b}ffn_down.bias`, [dim], 0.1);
  }
  tensor('output_norm.weight', [dim], 0.3, 1);
  tensor('output_norm.bias', [dim], 0.1);
  for (const name of o.extraTensors ?? []) tensor(name, [dim, vocab], 0.1);
  return writeGGUFToBuffer(w, data);
}
