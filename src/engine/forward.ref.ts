/**
 * CPU reference forward pass: plain loops, f32 storage, f64 accumulation, for the tiny and small
 * generated models. It is the yardstick the GPU engine is debugged against layer by layer, and it
 * is itself checked against llama.cpp (forward.ref.test.ts). Not for speed.
 *
 *   x = embed[token]
 *   per layer:  x += Wo · attn(rope(Wqkv · norm(x)))   ;   x += Wdown · (silu(gate) * up)(Wup · norm(x))
 *   logits = Wout · norm(x)
 *
 * phi3small (src/model/PHI3SMALL.md) in the same loop: x = embed[token] * embeddingScale; norm is
 * LayerNorm (w, b); every projection adds its bias; scores are q.k * attentionScale over the keys
 * keyVisible allows (the block-sparse pattern on sparse layers); the feed-forward is GeGeLU; the
 * logits are multiplied by logitScale after the head, and the masked ids set to MASKED_LOGIT.
 */
import { isDenseLayer, kvTypeProblem, ropeAttnFactorFor, type KvType, type ModelConfig } from '../model/config.ts';
import { keyVisible } from '../kernels/attention.ts';
import { MASKED_LOGIT } from '../kernels/logit_mask.ts';
import { roundQ8 } from '../kernels/kv-cache.ref.ts';
import type { ByteSource, GGUFFile } from '../model/gguf-types.ts';
import { dequantize, f16ToF32, f32ToF16 } from '../model/quant/index.ts';

/** phi3small's biases of one layer. */
export interface RefBiases {
  attnNorm: Float32Array; // [dim]
  qkv: Float32Array; // [dim + 2*kvDim]
  wo: Float32Array; // [dim]
  ffnNorm: Float32Array; // [dim]
  up: Float32Array; // [2*ffn]: gelu half, then linear half
  down: Float32Array; // [dim]
}

export interface RefLayer {
  /** Present iff cfg.biases. */
  bias?: RefBiases;
  attnNorm: Float32Array; // [dim]
  wqkv: Float32Array; // [dim + 2*kvDim][dim]: q rows, then k, then v
  wo: Float32Array; // [dim][dim]
  ffnNorm: Float32Array; // [dim]
  wup: Float32Array; // [2*ffn][dim]: gate rows, then up
  wdown: Float32Array; // [dim][ffn]
}

export interface RefWeights {
  cfg: ModelConfig;
  tokenEmbd: Float32Array; // [vocab][dim]
  layers: RefLayer[];
  outputNorm: Float32Array; // [dim]
  outputNormBias?: Float32Array; // [dim], iff cfg.biases
  output: Float32Array; // [vocab][dim]
  ropeFactorsLong?: Float32Array; // [ropeDim/2]
  ropeFactorsShort?: Float32Array;
}

async function tensorF32(file: GGUFFile, src: ByteSource, name: string): Promise<Float32Array> {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`reference: tensor ${name} missing`);
  const bytes = await src.read(file.dataOffset + t.offset, t.nbytes);
  return dequantize(t.type, bytes, t.nelements);
}

function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Dequantizes every weight to f32 (split llama-style tensors are fused like phi3's). */
export async function loadRefWeights(file: GGUFFile, src: ByteSource, cfg: ModelConfig): Promise<RefWeights> {
  const get = (name: string) => tensorF32(file, src, name);
  const layers: RefLayer[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blk.${l}.`;
    layers.push({
      bias: cfg.biases
        ? {
            attnNorm: await get(`${b}attn_norm.bias`),
            qkv: await get(`${b}attn_qkv.bias`),
            wo: await get(`${b}attn_output.bias`),
            ffnNorm: await get(`${b}ffn_norm.bias`),
            up: await get(`${b}ffn_up.bias`),
            down: await get(`${b}ffn_down.bias`),
          }
        : undefined,
      attnNorm: await get(`${b}attn_norm.weight`),
      wqkv: cfg.fused ? await get(`${b}attn_qkv.weight`) : concat(await get(`${b}attn_q.weight`), await get(`${b}attn_k.weight`), await get(`${b}attn_v.weight`)),
      wo: await get(`${b}attn_output.weight`),
      ffnNorm: await get(`${b}ffn_norm.weight`),
      wup: cfg.fused ? await get(`${b}ffn_up.weight`) : concat(await get(`${b}ffn_gate.weight`), await get(`${b}ffn_up.weight`)),
      wdown: await get(`${b}ffn_down.weight`),
    });
  }
  const tokenEmbd = await get('token_embd.weight');
  return {
    cfg,
    tokenEmbd,
    layers,
    outputNorm: await get('output_norm.weight'),
    outputNormBias: cfg.biases ? await get('output_norm.bias') : undefined,
    output: cfg.tiedOutput ? tokenEmbd : await get('output.weight'),
    ropeFactorsLong: cfg.ropeFactorsLong ? await get('rope_factors_long.weight') : undefined,
    ropeFactorsShort: cfg.ropeFactorsShort ? await get('rope_factors_short.weight') : undefined,
  };
}

// W [rows][n] · x [n] -> y [rows]
function matvec(w: Float32Array, x: Float32Array, rows: number, n: number, y = new Float32Array(rows)): Float32Array {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * n;
    for (let k = 0; k < n; k++) s += w[o + k] * x[k];
    y[r] = s;
  }
  return y;
}

function rmsnorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = w[i] * (x[i] * scale);
  return y;
}

/** LayerNorm: (x - mean) / sqrt(var + eps) * w + b, sums in f64. */
function layernorm(x: Float32Array, w: Float32Array, b: Float32Array, eps: number): Float32Array {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  const mean = s / x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i] - mean) ** 2;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = (x[i] - mean) * scale * w[i] + b[i];
  return y;
}

/** y += b (a projection's bias), when there is one. */
function addBias(y: Float32Array, b: Float32Array | undefined): Float32Array {
  if (b) for (let i = 0; i < y.length; i++) y[i] += b[i];
  return y;
}

const roundF16 = (v: number) => f16ToF32(f32ToF16(v));

export interface RefOptions {
  /** Context length the model runs with: picks LongRoPE's long factors when above the original. */
  contextLength?: number;
  /** Store K and V rounded to f16, as the GPU engine and llama.cpp do (default true). */
  kvF16?: boolean;
  /**
   * The cache's type: 'f16' (default; kvF16 says whether to round) or 'q8_0': each head's K and V
   * quantized to q8_0 blocks on append and read back as q * d (src/kernels/kv-cache.ref.ts).
   */
  kvType?: KvType;
  /** Apply the sliding window from the metadata (transformers does; llama.cpp 3.21.1 does not). */
  slidingWindow?: boolean;
}

/** One sequence's state: KV cache in f32 (optionally f16-rounded) for every layer. */
export class RefModel {
  readonly cfg: ModelConfig;
  readonly maxCtx: number;
  private readonly k: Float32Array[]; // per layer [maxCtx][kvDim]
  private readonly v: Float32Array[];
  private readonly ropeFactors?: Float32Array;
  private readonly kvF16: boolean;
  private readonly kvType: KvType;
  private readonly window: number;
  /** Number of positions in the cache. */
  pos = 0;

  constructor(
    readonly w: RefWeights,
    opts: RefOptions = {},
  ) {
    const cfg = (this.cfg = w.cfg);
    this.maxCtx = opts.contextLength ?? cfg.contextLength;
    this.kvF16 = opts.kvF16 ?? true;
    this.kvType = opts.kvType ?? 'f16';
    const problem = kvTypeProblem(cfg, this.kvType);
    if (problem) throw new Error(`reference: ${problem}`);
    this.window = opts.slidingWindow === false ? 0 : cfg.slidingWindow;
    // llama.cpp picks the factor set statically from the context it runs with (PHI3.md 1.2).
    this.ropeFactors = this.maxCtx > cfg.originalContextLength ? (w.ropeFactorsLong ?? w.ropeFactorsShort) : (w.ropeFactorsShort ?? w.ropeFactorsLong);
    this.k = Array.from({ length: cfg.nLayers }, () => new Float32Array(this.maxCtx * cfg.kvDim));
    this.v = Array.from({ length: cfg.nLayers }, () => new Float32Array(this.maxCtx * cfg.kvDim));
  }

  /** The layer's input norm: RMSNorm (w), or LayerNorm (w, b) for cfg.norm 'layer'. */
  private norm(x: Float32Array, w: Float32Array, b: Float32Array | undefined): Float32Array {
    if (this.cfg.norm === 'layer') {
      if (!b) throw new Error('reference: LayerNorm without a bias');
      return layernorm(x, w, b, this.cfg.normEps);
    }
    return rmsnorm(x, w, this.cfg.normEps);
  }

  private rope(vec: Float32Array, offset: number, pos: number): void {
    const { ropeDim, ropeTheta, ropeStyle } = this.cfg;
    const ropeAttnFactor = ropeAttnFactorFor(this.cfg, this.maxCtx);
    const half = ropeDim / 2;
    for (let i = 0; i < half; i++) {
      const theta = (pos * Math.pow(ropeTheta, (-2 * i) / ropeDim)) / (this.ropeFactors ? this.ropeFactors[i] : 1);
      const c = Math.cos(theta) * ropeAttnFactor;
      const s = Math.sin(theta) * ropeAttnFactor;
      const [a, b] = ropeStyle === 'neox' ? [offset + i, offset + i + half] : [offset + 2 * i, offset + 2 * i + 1];
      const x0 = vec[a];
      const x1 = vec[b];
      vec[a] = x0 * c - x1 * s;
      vec[b] = x0 * s + x1 * c;
    }
  }

  /** Runs one token at position this.pos and returns its hidden state before the final norm. */
  private step(token: number): Float32Array {
    const { dim, nHeads, nKvHeads, headDim, kvDim, ffnDim } = this.cfg;
    const pos = this.pos;
    if (pos >= this.maxCtx) throw new Error(`reference: context full (${this.maxCtx})`);
    const x = this.w.tokenEmbd.slice(token * dim, (token + 1) * dim);
    if (this.cfg.embeddingScale !== 1) for (let i = 0; i < dim; i++) x[i] *= this.cfg.embeddingScale;
    const group = nHeads / nKvHeads;
    const scale = this.cfg.attentionScale;
    for (let l = 0; l < this.cfg.nLayers; l++) {
      const L = this.w.layers[l];
      const B = L.bias;
      const sparse = isDenseLayer(this.cfg, l) ? undefined : this.cfg.blockSparse;
      // attention
      const qkv = addBias(matvec(L.wqkv, this.norm(x, L.attnNorm, B?.attnNorm), dim + 2 * kvDim, dim), B?.qkv);
      for (let h = 0; h < nHeads; h++) this.rope(qkv, h * headDim, pos);
      for (let h = 0; h < nKvHeads; h++) this.rope(qkv, dim + h * headDim, pos);
      const kc = this.k[l];
      const vc = this.v[l];
      if (this.kvType === 'q8_0') {
        // Blocks of 32 within each head (kvTypeProblem: headDim % 32 == 0).
        kc.set(roundQ8(qkv.subarray(dim, dim + kvDim)), pos * kvDim);
        vc.set(roundQ8(qkv.subarray(dim + kvDim, dim + 2 * kvDim)), pos * kvDim);
      } else {
        for (let i = 0; i < kvDim; i++) {
          kc[pos * kvDim + i] = this.kvF16 ? roundF16(qkv[dim + i]) : qkv[dim + i];
          vc[pos * kvDim + i] = this.kvF16 ? roundF16(qkv[dim + kvDim + i]) : qkv[dim + kvDim + i];
        }
      }
      const att = new Float32Array(dim);
      const first = this.window > 0 ? Math.max(0, pos - this.window + 1) : 0;
      const scores = new Float64Array(pos + 1);
      for (let h = 0; h < nHeads; h++) {
        const kvh = Math.floor(h / group);
        let max = -Infinity;
        for (let j = first; j <= pos; j++) {
          // a key the block-sparse pattern hides weighs 0 (the key at pos itself is always visible)
          if (sparse && !keyVisible(sparse, h, pos, j)) {
            scores[j] = -Infinity;
            continue;
          }
          let s = 0;
          for (let d = 0; d < headDim; d++) s += qkv[h * headDim + d] * kc[j * kvDim + kvh * headDim + d];
          scores[j] = s * scale;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = first; j <= pos; j++) sum += (scores[j] = Math.exp(scores[j] - max));
        for (let d = 0; d < headDim; d++) {
          let acc = 0;
          for (let j = first; j <= pos; j++) acc += scores[j] * vc[j * kvDim + kvh * headDim + d];
          att[h * headDim + d] = acc / sum;
        }
      }
      const o = addBias(matvec(L.wo, att, dim, dim), B?.wo);
      for (let i = 0; i < dim; i++) x[i] += o[i];
      // feed-forward
      const gu = addBias(matvec(L.wup, this.norm(x, L.ffnNorm, B?.ffnNorm), 2 * ffnDim, dim), B?.up);
      const hbuf = new Float32Array(ffnDim);
      if (this.cfg.ffnAct === 'gegelu') {
        const limit = this.cfg.gegeluLimit;
        for (let i = 0; i < ffnDim; i++) {
          const g = Math.min(gu[i], limit);
          const u = Math.min(Math.max(gu[ffnDim + i], -limit), limit);
          hbuf[i] = (g / (1 + Math.exp(-1.702 * g))) * (u + 1);
        }
      } else {
        for (let i = 0; i < ffnDim; i++) {
          const g = gu[i];
          hbuf[i] = (g / (1 + Math.exp(-g))) * gu[ffnDim + i];
        }
      }
      const down = addBias(matvec(L.wdown, hbuf, dim, ffnDim), B?.down);
      for (let i = 0; i < dim; i++) x[i] += down[i];
    }
    this.pos++;
    return x;
  }

  /** Feeds tokens; returns the logits after each of them (or only the last, by default). */
  forward(tokens: number[], opts: { all?: boolean } = {}): Float32Array[] {
    const out: Float32Array[] = [];
    tokens.forEach((t, i) => {
      const x = this.step(t);
      if (opts.all || i === tokens.length - 1) out.push(this.logits(x));
    });
    return out;
  }

  private logits(x: Float32Array): Float32Array {
    const { dim, vocabSize, logitScale, maskedIds } = this.cfg;
    const logits = matvec(this.w.output, this.norm(x, this.w.outputNorm, this.w.outputNormBias), vocabSize, dim);
    if (logitScale !== 1) for (let i = 0; i < vocabSize; i++) logits[i] *= logitScale;
    // the engine's finite stand-in for -inf: exp(MASKED_LOGIT - max) is 0 in f32 and f64 alike
    for (const id of maskedIds) logits[id] = MASKED_LOGIT;
    return logits;
  }
}

/** log-softmax in f64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}
