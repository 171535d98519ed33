/**
 * The forward pass over a chunk of m tokens (prefill): one GEMM per projection, each weight tile
 * dequantized once for all m tokens. The last position's x then goes through the output head.
 *
 *   x = embed(ids)
 *   per layer:  xb = rmsnorm(x) g;  qkv = Wqkv xb;  q, K/V cache = rope(qkv);  att = attention(q, cache)
 *               x += Wo att;  xb = rmsnorm(x) g;  gu = Wup xb;  h = silu(gate) * up;  x += Wdown h
 *   logits = Wout rmsnorm(x[m-1]) g
 *
 * 9 dispatches per layer. Steps of one token run the decode graph (decode.ts) instead.
 */
import type { ModelConfig } from '../model/config.ts';
import type { AttentionBinding } from '../kernels/attention.ts';
import { BoundEmbed, BoundMatmul, BoundNormMatvec } from './bound.ts';
import type { Kernels } from './kernels.ts';
import type { GemmRole } from './plan.ts';
import type { StepState } from './state.ts';
import type { ModelWeights } from './weights.ts';
import type { PassFactory } from './profile.ts';

interface PrefillLayer {
  attnNorm: GPUBindGroup;
  qkv: BoundMatmul;
  rope: GPUBindGroup;
  attention: AttentionBinding;
  wo: BoundMatmul;
  ffnNorm: GPUBindGroup;
  up: BoundMatmul;
  silu: GPUBindGroup;
  down: BoundMatmul;
}

export class PrefillGraph {
  private readonly embed: BoundEmbed;
  private readonly layers: PrefillLayer[] = [];
  /** Final norm + lm_head of the last position (xLast). */
  private readonly head: BoundNormMatvec;
  private readonly matmuls: BoundMatmul[] = [];

  constructor(
    private readonly k: Kernels,
    private readonly cfg: ModelConfig,
    weights: ModelWeights,
    private readonly s: StepState,
  ) {
    const { dim, kvDim, ffnDim } = cfg;
    const gemm = (role: GemmRole, w: ModelWeights['output'], x: GPUBuffer, y: GPUBuffer, yStride: number, accumulate: boolean) => {
      const b = new BoundMatmul(k, role, w, x, y, yStride, accumulate);
      this.matmuls.push(b);
      return b;
    };
    this.embed = new BoundEmbed(k, weights.embed, s.ids, s.x, 1);
    weights.layers.forEach((w, l) => {
      const { k: kc, v: vc } = s.kv[l];
      this.layers.push({
        attnNorm: k.rmsnorm.bind(s.x, w.attnNorm, s.xb, s.normParams),
        qkv: gemm('gemmQkv', w.qkv, s.xb, s.qkv, dim + 2 * kvDim, false),
        rope: k.ropeKv.bind(s.qkv, s.rope.factors, s.q, kc, vc, s.step, s.rope.params),
        attention: k.attention.bind(s.attention, s.kv[l], s.q, s.att),
        wo: gemm('gemmWo', w.wo, s.att, s.x, dim, true),
        ffnNorm: k.rmsnorm.bind(s.x, w.ffnNorm, s.xb, s.normParams),
        up: gemm('gemmUp', w.up, s.xb, s.gu, 2 * ffnDim, false),
        silu: k.siluMul.bind(s.gu, s.h, s.siluParams),
        down: gemm('gemmDown', w.down, s.h, s.x, dim, true),
      });
    });
    this.head = new BoundNormMatvec(k, 'lmHead', weights.output, s.xLast, weights.outputNorm, s.logits, cfg.normEps);
  }

  /**
   * Records m tokens at positions pos0.. (ids in `ids`, the Step uniform written): their K/V go
   * into the cache and the last one's logits into `logits`. `tail` adds to the head's pass (the sampler).
   * Returns the dispatches recorded.
   */
  encode(enc: GPUCommandEncoder, pos0: number, m: number, begin: PassFactory, tail?: (pass: GPUComputePassEncoder) => void): number {
    const { k, cfg, s } = this;
    const { nHeads, nKvHeads, ffnDim } = cfg;
    this.embed.setTokens(m);
    for (const g of this.matmuls) g.setTokens(m);

    const body = begin('layers');
    const p = body.encoder;
    this.embed.encode(p); //                                    x = embed(ids)
    for (const L of this.layers) {
      k.rmsnorm.encode(p, L.attnNorm, m); //                     xb = rmsnorm(x) g
      L.qkv.encode(p, m); //                                     qkv = Wqkv xb
      k.ropeKv.encode(p, L.rope, m, nHeads, nKvHeads); //        q = rope(q); cache[pos0..] = rope(k), v
      k.attention.encode(p, L.attention, { pos0, nTokens: m }); // att = causal softmax(q K / sqrt(hd)) V
      L.wo.encode(p, m); //                                      x += Wo att
      k.rmsnorm.encode(p, L.ffnNorm, m); //                      xb = rmsnorm(x) g
      L.up.encode(p, m); //                                      gu = Wup xb (gate | up)
      k.siluMul.encode(p, L.silu, ffnDim, m); //                 h = silu(gate) * up
      L.down.encode(p, m); //                                    x += Wdown h
    }
    body.end();

    enc.copyBufferToBuffer(s.x, (m - 1) * cfg.dim * 4, s.xLast, 0, cfg.dim * 4);
    const head = begin('head');
    this.head.encode(head.encoder); //                          logits = Wout rmsnorm(x[m-1]) g
    tail?.(head.encoder);
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
