/**
 * The forward pass of one token (decode) for phi3small (src/model/PHI3SMALL.md): LayerNorm with
 * biases, a bias on every projection, GeGeLU, muP scales, block-sparse attention on the sparse
 * layers. Each projection's bias is added where it is cheapest: QKV's by bias_add before RoPE, the
 * up bias inside gegelu, and Wo's and Wdown's by the next LayerNorm, which adds the pending bias
 * into x in place before normalizing (layernorm's `pre`).
 *
 *   x = embed(id) * embeddingScale                           embed
 *   per layer:  xb = LN(x += bdown') w + b                    layernorm (layer 0: nothing pending)
 *               qkv = Wqkv xb;  qkv += bqkv                   matvec, bias_add
 *               att = attention(rope(q), cache + rope(k), v)  attention_decode_rope (+ merge)
 *               x += Wo att                                   matvec
 *               xb = LN(x += bo) w2 + b2                      layernorm
 *               gu = Wup xb;  h = gegelu(gu + bup)            matvec, gegelu
 *               x += Wdown h                                  matvec
 *   logits = Wout LN(x += bdown) wf s + bf s;  masked ids     layernorm, matvec, logit_mask
 *   (s = logitScale, folded into the final norm at load: src/engine/weights.ts)
 *
 * 9 dispatches per layer, 10 with the attention's merge pass (the plan's Wo may merge it
 * itself), plus embed, and final norm + head + mask (one more per extra part of a weight split
 * by rows): 10 L + 4 per token with the merge, + 2 for the sampler.
 */
import type { ModelConfig } from '../model/config.ts';
import type { DecodeAttentionBinding } from '../kernels/attention.ts';
import { BoundEmbed, BoundMatvec } from './bound.ts';
import type { Kernels } from './kernels.ts';
import type { PassFactory } from './profile.ts';
import type { SmallState, StepState } from './state.ts';
import type { LayerBiases, ModelWeights } from './weights.ts';

interface DecodeLayer {
  attnNorm: GPUBindGroup;
  qkv: BoundMatvec;
  qkvBias: GPUBindGroup;
  attention: DecodeAttentionBinding;
  wo: BoundMatvec;
  ffnNorm: GPUBindGroup;
  up: BoundMatvec;
  gegelu: GPUBindGroup;
  down: BoundMatvec;
}

/** The model's biases, which phi3small always has (cfg.biases). */
export function biasesOf(weights: ModelWeights): { layers: LayerBiases[]; outputNorm: GPUBuffer } {
  const layers = weights.layers.map((w, l) => {
    if (!w.bias) throw new Error(`phi3small: layer ${l} has no biases loaded`);
    return w.bias;
  });
  if (!weights.outputNormBias) throw new Error('phi3small: the final norm has no bias loaded');
  return { layers, outputNorm: weights.outputNormBias };
}

export function smallOf(s: StepState): SmallState {
  if (!s.small) throw new Error('phi3small: the step state was made for another architecture');
  return s.small;
}

export class LayerNormDecodeGraph {
  private readonly embed: BoundEmbed;
  private readonly layers: DecodeLayer[] = [];
  private readonly finalNorm: GPUBindGroup;
  private readonly head: BoundMatvec;
  private readonly mask: GPUBindGroup;
  private readonly maskCount: number;

  constructor(
    private readonly k: Kernels,
    private readonly cfg: ModelConfig,
    weights: ModelWeights,
    s: StepState,
  ) {
    const small = smallOf(s);
    const bias = biasesOf(weights);
    this.embed = new BoundEmbed(k, weights.embed, s.ids, s.x, 1, cfg.embeddingScale);
    // x's pending bias at each norm: the previous projection's that added into x
    const norm = (g: GPUBuffer, b: GPUBuffer, pending: GPUBuffer | undefined) =>
      // without a pending bias, `pre` is not read: any buffer of dim floats fills the binding
      k.layernorm.bind(s.x, g, b, pending ?? b, s.xb, pending ? small.normPre : small.norm);
    weights.layers.forEach((w, l) => {
      const b = bias.layers[l];
      const shared = s.attentionOf(cfg, l);
      this.layers.push({
        attnNorm: norm(w.attnNorm, b.attnNorm, l > 0 ? bias.layers[l - 1].down : undefined),
        qkv: new BoundMatvec(k, 'qkv', w.qkv, s.xb, s.qkv, false),
        qkvBias: k.biasAdd.bind(b.qkv, s.qkv, small.qkvBias),
        attention: k.attention.bindDecode(shared, s.kv[l], { qkv: s.qkv, factors: s.rope.factors, ropeParams: s.rope.params }, s.att),
        wo: new BoundMatvec(k, 'wo', w.wo, s.att, s.x, true, undefined, shared),
        ffnNorm: norm(w.ffnNorm, b.ffnNorm, b.wo),
        up: new BoundMatvec(k, 'gateUp', w.up, s.xb, s.gu, false),
        gegelu: k.gegelu.bind(s.gu, b.up, s.h, small.gegelu),
        down: new BoundMatvec(k, 'down', w.down, s.h, s.x, true),
      });
    });
    this.finalNorm = norm(weights.outputNorm, bias.outputNorm, bias.layers[bias.layers.length - 1].down);
    this.head = new BoundMatvec(k, 'lmHead', weights.output, s.xb, s.logits, false);
    this.mask = k.logitMask.bind(small.mask, s.logits);
    this.maskCount = small.mask.count;
  }

  /**
   * Records one token at `pos` (its id in `ids`, the Step uniform written): its K/V go into the
   * cache at pos and its logits into `logits`. `tail` adds to the head's pass (the sampler).
   * Returns the dispatches recorded.
   */
  encode(pos: number, begin: PassFactory, tail?: (pass: GPUComputePassEncoder) => void): number {
    const { k, cfg } = this;
    const qkvWidth = cfg.dim + 2 * cfg.kvDim;
    const body = begin('layers');
    const p = body.encoder;
    this.embed.encode(p); //                                             x = embed(id) * embeddingScale
    for (const L of this.layers) {
      k.layernorm.encode(p, L.attnNorm, 1); //                           xb = LN(x += pending bias) w + b
      L.qkv.encode(p); //                                                qkv = Wqkv xb
      k.biasAdd.encode(p, L.qkvBias, qkvWidth, 1); //                    qkv += bqkv
      // att = softmax(rope(q) K * attentionScale) V over the visible keys, K/V appended at pos
      k.attention.encodeDecodeRope(p, L.attention, pos, !L.wo.mergesAttention);
      L.wo.encode(p); //                                                 x += Wo att
      k.layernorm.encode(p, L.ffnNorm, 1); //                            xb = LN(x += bo) w2 + b2
      L.up.encode(p); //                                                 gu = Wup xb
      k.gegelu.encode(p, L.gegelu, cfg.ffnDim, 1); //                    h = gegelu(gu + bup)
      L.down.encode(p); //                                               x += Wdown h
    }
    body.end();

    const head = begin('head');
    const hp = head.encoder;
    k.layernorm.encode(hp, this.finalNorm, 1); //                        xb = LN(x += bdown) wf s + bf s
    this.head.encode(hp); //                                             logits = Wout xb
    k.logitMask.encode(hp, this.mask, this.maskCount); //                logits[masked] = MASKED_LOGIT
    tail?.(hp);
    head.end();
    return body.dispatches + head.dispatches;
  }

  /** Bytes of the GPU buffers this graph owns (uniforms). */
  get bytes(): number {
    let n = this.embed.bytes + this.head.bytes;
    for (const L of this.layers) for (const b of [L.qkv, L.wo, L.up, L.down]) n += b.bytes;
    return n;
  }

  destroy(): void {
    for (const L of this.layers) for (const b of [L.qkv, L.wo, L.up, L.down]) b.destroy();
    this.embed.destroy();
    this.head.destroy();
  }
}
