/**
 * The forward pass over a chunk of m tokens (prefill) for phi3small: one GEMM per projection, the
 * same bias placement as decode-layernorm.ts (QKV's by bias_add before RoPE, the up bias inside
 * gegelu, Wo's and Wdown's added into x by the next LayerNorm). The last position's x then goes
 * through the final norm, the tied head and the mask.
 *
 *   x = embed(ids) * embeddingScale
 *   per layer:  xb = LN(x += bdown') w + b;  qkv = Wqkv xb + bqkv;  q, K/V cache = rope(qkv)
 *               att = attention(q, cache);  x += Wo att;  xb = LN(x += bo) w2 + b2
 *               gu = Wup xb;  h = gegelu(gu + bup);  x += Wdown h
 *   logits = Wout LN(x[m-1] += bdown) wf s + bf s;  logits[masked] = MASKED_LOGIT
 *
 * 9 dispatches per layer plus the attention's (AttentionKernel.encode: 1 tiled, or 2 for a short
 * chunk on the split-K path with its merge).
 */
import type { ModelConfig } from '../model/config.ts';
import type { AttentionBinding } from '../kernels/attention.ts';
import { BoundEmbed, BoundMatmul, BoundMatvec } from './bound.ts';
import type { Kernels } from './kernels.ts';
import type { GemmRole } from './plan.ts';
import type { StepState } from './state.ts';
import type { ModelWeights } from './weights.ts';
import type { PassFactory } from './profile.ts';
import { biasesOf, smallOf } from './decode-layernorm.ts';

interface PrefillLayer {
  attnNorm: GPUBindGroup;
  qkv: BoundMatmul;
  qkvBias: GPUBindGroup;
  rope: GPUBindGroup;
  attention: AttentionBinding;
  wo: BoundMatmul;
  ffnNorm: GPUBindGroup;
  up: BoundMatmul;
  gegelu: GPUBindGroup;
  down: BoundMatmul;
}

export class LayerNormPrefillGraph {
  private readonly embed: BoundEmbed;
  private readonly layers: PrefillLayer[] = [];
  /** Final norm of the last position (xLast, into xb), head, mask. */
  private readonly finalNorm: GPUBindGroup;
  private readonly head: BoundMatvec;
  private readonly mask: GPUBindGroup;
  private readonly maskCount: number;
  private readonly matmuls: BoundMatmul[] = [];

  constructor(
    private readonly k: Kernels,
    private readonly cfg: ModelConfig,
    weights: ModelWeights,
    private readonly s: StepState,
  ) {
    const { dim, kvDim, ffnDim } = cfg;
    const small = smallOf(s);
    const bias = biasesOf(weights);
    const gemm = (role: GemmRole, w: ModelWeights['output'], x: GPUBuffer, y: GPUBuffer, yStride: number, accumulate: boolean) => {
      const b = new BoundMatmul(k, role, w, x, y, yStride, accumulate);
      this.matmuls.push(b);
      return b;
    };
    // without a pending bias, `pre` is not read: any buffer of dim floats fills the binding
    const norm = (x: GPUBuffer, g: GPUBuffer, b: GPUBuffer, pending: GPUBuffer | undefined) =>
      k.layernorm.bind(x, g, b, pending ?? b, s.xb, pending ? small.normPre : small.norm);
    this.embed = new BoundEmbed(k, weights.embed, s.ids, s.x, 1, cfg.embeddingScale);
    weights.layers.forEach((w, l) => {
      const { k: kc, v: vc } = s.kv[l];
      const b = bias.layers[l];
      this.layers.push({
        attnNorm: norm(s.x, w.attnNorm, b.attnNorm, l > 0 ? bias.layers[l - 1].down : undefined),
        qkv: gemm('gemmQkv', w.qkv, s.xb, s.qkv, dim + 2 * kvDim, false),
        qkvBias: k.biasAdd.bind(b.qkv, s.qkv, small.qkvBias),
        rope: k.ropeKv.bind(s.qkv, s.rope.factors, s.q, kc, vc, s.step, s.rope.params),
        attention: k.attention.bind(s.attentionOf(cfg, l), s.kv[l], s.q, s.att),
        wo: gemm('gemmWo', w.wo, s.att, s.x, dim, true),
        ffnNorm: norm(s.x, w.ffnNorm, b.ffnNorm, b.wo),
        up: gemm('gemmUp', w.up, s.xb, s.gu, 2 * ffnDim, false),
        gegelu: k.gegelu.bind(s.gu, b.up, s.h, small.gegelu),
        down: gemm('gemmDown', w.down, s.h, s.x, dim, true),
      });
    });
    this.finalNorm = norm(s.xLast, weights.outputNorm, bias.outputNorm, bias.layers[bias.layers.length - 1].down);
    this.head = new BoundMatvec(k, 'lmHead', weights.output, s.xb, s.logits, false);
    this.mask = k.logitMask.bind(small.mask, s.logits);
    this.maskCount = small.mask.count;
  }

  /**
   * Records m tokens at positions pos0.. (ids in `ids`, the Step uniform written): their K/V go
   * into the cache and the last one's logits into `logits`. `tail` adds to the head's pass (the
   * sampler). Returns the dispatches recorded.
   */
  encode(enc: GPUCommandEncoder, pos0: number, m: number, begin: PassFactory, tail?: (pass: GPUComputePassEncoder) => void): number {
    const { k, cfg, s } = this;
    const { nHeads, nKvHeads, ffnDim } = cfg;
    const qkvWidth = cfg.dim + 2 * cfg.kvDim;
    this.embed.setTokens(m);
    for (const g of this.matmuls) g.setTokens(m);

    const body = begin('layers');
    const p = body.encoder;
    this.embed.encode(p); //                                    x = embed(ids) * embeddingScale
    for (const L of this.layers) {
      k.layernorm.encode(p, L.attnNorm, m); //                   xb = LN(x += pending bias) w + b
      L.qkv.encode(p, m); //                                     qkv = Wqkv xb
      k.biasAdd.encode(p, L.qkvBias, qkvWidth, m); //            qkv += bqkv
      k.ropeKv.encode(p, L.rope, m, nHeads, nKvHeads); //        q = rope(q); cache[pos0..] = rope(k), v
      k.attention.encode(p, L.attention, { pos0, nTokens: m }); // att = softmax(q K * attentionScale) V over the visible keys
      L.wo.encode(p, m); //                                      x += Wo att
      k.layernorm.encode(p, L.ffnNorm, m); //                    xb = LN(x += bo) w2 + b2
      L.up.encode(p, m); //                                      gu = Wup xb
      k.gegelu.encode(p, L.gegelu, ffnDim, m); //                h = gegelu(gu + bup)
      L.down.encode(p, m); //                                    x += Wdown h
    }
    body.end();

    enc.copyBufferToBuffer(s.x, (m - 1) * cfg.dim * 4, s.xLast, 0, cfg.dim * 4);
    const head = begin('head');
    const hp = head.encoder;
    k.layernorm.encode(hp, this.finalNorm, 1); //               xb = LN(xLast += bdown) wf s + bf s
    this.head.encode(hp); //                                    logits = Wout xb
    k.logitMask.encode(hp, this.mask, this.maskCount); //        logits[masked] = MASKED_LOGIT
    tail?.(hp);
    head.end();
    return body.dispatches + head.dispatches;
  }

  /** Bytes of the GPU buffers this graph owns (uniforms). */
  get bytes(): number {
    return [this.embed, ...this.matmuls, this.head].reduce((n, b) => n + b.bytes, 0);
  }

  destroy(): void {
    for (const b of [this.embed, ...this.matmuls, this.head]) b.destroy();
  }
}
