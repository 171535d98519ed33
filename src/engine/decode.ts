/**
 * The forward pass of one token (decode): GEMVs, each weight read once per token, with the
 * neighbouring small kernels fused in.
 *
 *   x = embed(id)
 *   per layer:  qkv = Wqkv rmsnorm(x) g                   norm_matvec
 *               att = attention(rope(q), cache + rope(k), v)  attention_decode_rope, then merge
 *               x += Wo att                                matvec (+ hand-off to the next norm)
 *               h = silu(Wgate x') * (Wup x'), x' = rmsnorm(x) g   swiglu_matvec
 *               x += Wdown h                               matvec (+ hand-off)
 *   logits = Wout rmsnorm(x) g                             norm_matvec
 *
 * 6 dispatches per layer, plus embed and the head: 194 for Phi-3-mini, 196 with the sampler. Where
 * the plan has Wo merge the attention partials itself (plan.gemv.wo.mergeAttention), the merge
 * pass goes: 5 per layer, 164 with the sampler.
 * The hand-off: Wo and Wdown also write x * g of the norm after them and partial sums of x^2
 * (shaders/matvec_store_norm.wgsl), so the fused norms that follow load no g and square nothing
 * (all but layer 0's attention norm). A split-K Wo or Wdown (the plan's splitK) hands nothing off:
 * the norm after it reads x and g, in the same dispatch count.
 */
import type { ModelConfig } from '../model/config.ts';
import type { DecodeAttentionBinding } from '../kernels/attention.ts';
import { createStorage } from '../gpu/buffers.ts';
import { BoundEmbed, BoundMatvec, BoundNormMatvec, BoundSwiglu, type Encodable, type NormHandoff, type PrescaledInput } from './bound.ts';
import type { Kernels } from './kernels.ts';
import type { PassFactory } from './profile.ts';
import type { StepState } from './state.ts';
import type { ModelWeights } from './weights.ts';

interface DecodeLayer {
  qkv: BoundNormMatvec;
  /** RoPE + KV append + split-K attention reading qkv, then the merge. */
  attention: DecodeAttentionBinding;
  wo: BoundMatvec;
  ffn: Encodable & { destroy(): void; readonly bytes: number };
  down: BoundMatvec;
}

export class DecodeGraph {
  private readonly embed: BoundEmbed;
  private readonly layers: DecodeLayer[] = [];
  private readonly head: BoundNormMatvec;
  /** The hand-off buffers: [dim] x * g, and the partial sums of squares (matvec partialsBytes). */
  private readonly xg: GPUBuffer;
  private readonly partials: GPUBuffer;

  constructor(
    private readonly k: Kernels,
    cfg: ModelConfig,
    weights: ModelWeights,
    s: StepState,
  ) {
    const { dim, ffnDim, normEps: eps } = cfg;
    this.xg = createStorage(k.device, dim * 4, 'xg');
    this.partials = createStorage(k.device, handoffBytes(k, weights, dim), 'norm partials');
    const handoff = (g: GPUBuffer): NormHandoff => ({ g, xg: this.xg, partials: this.partials });

    this.embed = new BoundEmbed(k, weights.embed, s.ids, s.x, 1);
    // what the previous layer's Wdown handed off (undefined before layer 0, or if it could not)
    let fromDown: PrescaledInput | undefined;
    weights.layers.forEach((w, l) => {
      const nextNorm = l + 1 < weights.layers.length ? weights.layers[l + 1].attnNorm : weights.outputNorm;
      const fused = BoundSwiglu.fits(w.up, ffnDim);
      const wo = new BoundMatvec(k, 'wo', w.wo, s.att, s.x, true, fused ? handoff(w.ffnNorm) : undefined, s.attention);
      const down = new BoundMatvec(k, 'down', w.down, s.h, s.x, true, handoff(nextNorm));
      this.layers.push({
        qkv: new BoundNormMatvec(k, 'qkv', w.qkv, s.x, w.attnNorm, s.qkv, eps, fromDown),
        attention: k.attention.bindDecode(s.attention, s.kv[l], { qkv: s.qkv, factors: s.rope.factors, ropeParams: s.rope.params }, s.att),
        wo,
        ffn: fused ? new BoundSwiglu(k, w.up, s.x, w.ffnNorm, s.h, ffnDim, eps, wo.prescaled) : new UnfusedFfn(k, cfg, w, s),
        down,
      });
      fromDown = down.prescaled;
    });
    this.head = new BoundNormMatvec(k, 'lmHead', weights.output, s.x, weights.outputNorm, s.logits, eps, fromDown);
  }

  /**
   * Records one token at `pos` (its id in `ids`, the Step uniform written): its K/V go into the
   * cache at pos and its logits into `logits`. `tail` adds to the head's pass (the sampler).
   * Returns the dispatches recorded.
   */
  encode(pos: number, begin: PassFactory, tail?: (pass: GPUComputePassEncoder) => void): number {
    const { k } = this;
    const body = begin('layers');
    const p = body.encoder;
    this.embed.encode(p); //                                             x = embed(id)
    for (const L of this.layers) {
      L.qkv.encode(p); //                                                qkv = Wqkv rmsnorm(x) g
      // att = softmax(rope(q) K / sqrt(hd)) V, K/V appended at pos; the merge pass unless Wo merges
      k.attention.encodeDecodeRope(p, L.attention, pos, !L.wo.mergesAttention);
      L.wo.encode(p); //                                                 x += Wo att
      L.ffn.encode(p); //                                                h = silu(Wgate x') * (Wup x'), x' = rmsnorm(x) g
      L.down.encode(p); //                                               x += Wdown h
    }
    body.end();

    const head = begin('head');
    this.head.encode(head.encoder); //                                   logits = Wout rmsnorm(x) g
    tail?.(head.encoder);
    head.end();
    return body.dispatches + head.dispatches;
  }

  /** Bytes of the GPU buffers this graph owns (uniforms, the hand-off). */
  get bytes(): number {
    let n = this.embed.bytes + this.head.bytes + this.xg.size + this.partials.size;
    for (const L of this.layers) for (const b of [L.qkv, L.wo, L.ffn, L.down]) n += b.bytes;
    return n;
  }

  destroy(): void {
    for (const L of this.layers) for (const b of [L.qkv, L.wo, L.ffn, L.down]) b.destroy();
    this.embed.destroy();
    this.head.destroy();
    this.xg.destroy();
    this.partials.destroy();
  }
}

/**
 * The feed-forward input side unfused (rmsnorm, gate/up GEMV, silu_mul: 3 dispatches), for an
 * ffn_up split into parts: the fused kernel needs the gate and up rows in one binding.
 */
class UnfusedFfn implements Encodable {
  private readonly norm: GPUBindGroup;
  private readonly up: BoundMatvec;
  private readonly silu: GPUBindGroup;

  constructor(
    private readonly k: Kernels,
    private readonly cfg: ModelConfig,
    w: ModelWeights['layers'][number],
    s: StepState,
  ) {
    this.norm = k.rmsnorm.bind(s.x, w.ffnNorm, s.xb, s.normParams);
    this.up = new BoundMatvec(k, 'gateUp', w.up, s.xb, s.gu, false);
    this.silu = k.siluMul.bind(s.gu, s.h, s.siluParams);
  }

  encode(pass: GPUComputePassEncoder): void {
    this.k.rmsnorm.encode(pass, this.norm, 1);
    this.up.encode(pass);
    this.k.siluMul.encode(pass, this.silu, this.cfg.ffnDim, 1);
  }

  get bytes(): number {
    return this.up.bytes;
  }

  destroy(): void {
    this.up.destroy();
  }
}

/** Bytes of the hand-off's partial sums: the most any Wo or Wdown dispatch writes. */
function handoffBytes(kernels: Kernels, weights: ModelWeights, dim: number): number {
  let bytes = 16;
  for (const w of weights.layers) {
    for (const [role, lin] of [['wo', w.wo], ['down', w.down]] as const) bytes = Math.max(bytes, kernels.matvec(role, lin.format, lin.k, true).partialsBytes(dim));
  }
  return bytes;
}
