/**
 * What a forward step works in (llama2.c's RunState): activation buffers sized for the longest
 * step (a prefill chunk of M tokens), the token ids and the per-step uniform, the KV cache, and the
 * uniforms every layer shares. Made once at load; the prefill and decode graphs bind the same
 * buffers (a step recomputes every activation from the embedding; only the KV cache carries over).
 */
import { isDenseLayer, kvTypeProblem, ropeAttnFactorFor, type KvType, type ModelConfig } from '../model/config.ts';
import { kvRowWords } from '../kernels/kv-layout.ts';
import { createStorage } from '../gpu/buffers.ts';
import { createStepBuffer } from '../kernels/step.ts';
import type { AttentionShared, AttentionShape, LayerKv } from '../kernels/attention.ts';
import type { LogitMask } from '../kernels/logit_mask.ts';
import type { Kernels } from './kernels.ts';
import type { ModelWeights } from './weights.ts';

/** What phi3small's graphs share beyond the common state (src/engine/decode-layernorm.ts, prefill-layernorm.ts). */
export interface SmallState {
  /** layernorm over rows of dim (M rows at most): without, and with, a pending bias added first. */
  norm: GPUBuffer;
  normPre: GPUBuffer;
  /** bias_add over rows of the QKV width. */
  qkvBias: GPUBuffer;
  /** gegelu over rows of ffn, with the model's limit. */
  gegelu: GPUBuffer;
  /** The masked ids (cfg.maskedIds). */
  mask: LogitMask;
  /** The sparse layers' attention (cfg.blockSparse), if any layer is sparse. */
  sparseAttention?: AttentionShared;
}

export class StepState {
  // f32 unless noted; M = tokens of the longest step (the prefill chunk)
  /** [M, dim] the residual stream. */
  readonly x: GPUBuffer;
  /** [M, dim] rmsnorm(x) * g (prefill, and decode's unfused feed-forward; otherwise decode fuses the norm into the GEMV); phi3small's LayerNorm output. */
  readonly xb: GPUBuffer;
  /** [M, dim + 2 kvDim] the fused Q | K | V projection. */
  readonly qkv: GPUBuffer;
  /** [M, dim] rotated queries (prefill; decode rotates inside attention). */
  readonly q: GPUBuffer;
  /** [M, dim] attention output, heads side by side. */
  readonly att: GPUBuffer;
  /** [M, 2 ffn] gate | up (prefill, and decode's unfused feed-forward; otherwise decode fuses SwiGLU into the gate/up GEMV); phi3small's gelu | linear halves. */
  readonly gu: GPUBuffer;
  /** [M, ffn] silu(gate) * up; phi3small's gegelu. */
  readonly h: GPUBuffer;
  /** [dim] the last position's x, the output head's input after a prefill chunk. */
  readonly xLast: GPUBuffer;
  /** [vocab] the last position's logits. */
  readonly logits: GPUBuffer;
  /** [M] u32 the step's token ids. */
  readonly ids: GPUBuffer;
  /** uniform Step { pos0, nTokens } (src/kernels/step.ts), written before each step's submit. */
  readonly step: GPUBuffer;
  /**
   * Per layer, K and V: [nKvHeads, maxCtx, row] u32 words, a row per kv head and position as
   * src/kernels/kv-cache.ref.ts lays it out for kvType: headDim f16, or q8_0 (headDim int8 + the
   * f16 block scales padded to a whole word); kvLayerBytes (src/common/kv.ts) either way.
   */
  readonly kv: LayerKv[] = [];
  readonly kvType: KvType;
  /** Bytes of every layer's K and V cache buffers. */
  readonly kvBytes: number;
  /** Bytes of every GPU buffer this state owns (the KV cache included). */
  get bytes(): number {
    return this.owned.reduce((n, b) => n + b.size, 0);
  }

  // uniforms shared by every layer
  /** rmsnorm over rows of dim (M rows at most). */
  readonly normParams: GPUBuffer;
  /** silu_mul over rows of ffn. */
  readonly siluParams: GPUBuffer;
  /** RoPE: the uniform and the [ropeDim/2] frequency factors (LongRoPE's, or ones). */
  readonly rope: { params: GPUBuffer; factors: GPUBuffer };
  /** Attention: the shape, its uniform, the Step uniform and the split-K scratch. */
  readonly attention: AttentionShared;

  /** phi3small's uniforms, mask and sparse attention (present iff cfg.arch is 'phi3small'). */
  readonly small?: SmallState;

  private readonly owned: GPUBuffer[] = [];

  constructor(device: GPUDevice, kernels: Kernels, cfg: ModelConfig, weights: ModelWeights, opts: { maxCtx: number; chunk: number; slidingWindow: boolean; kvType?: KvType }) {
    const { dim, kvDim, ffnDim, vocabSize, nHeads, nKvHeads, headDim, normEps } = cfg;
    const { maxCtx, chunk: M } = opts;
    const own = <T extends GPUBuffer>(b: T): T => (this.owned.push(b), b);
    const f32 = (n: number, label: string) => own(createStorage(device, n * 4, label));
    this.x = f32(M * dim, 'x');
    this.xb = f32(M * dim, 'xb');
    this.qkv = f32(M * (dim + 2 * kvDim), 'qkv');
    this.q = f32(M * dim, 'q');
    this.att = f32(M * dim, 'att');
    this.gu = f32(M * 2 * ffnDim, 'gu');
    this.h = f32(M * ffnDim, 'h');
    this.xLast = f32(dim, 'xLast');
    this.logits = f32(vocabSize, 'logits');
    this.ids = f32(M, 'ids');
    this.step = own(createStepBuffer(device));
    this.kvType = opts.kvType ?? 'f16';
    const problem = kvTypeProblem(cfg, this.kvType);
    if (problem) throw new Error(problem);
    if (kernels.kvType !== this.kvType) throw new Error(`state: a ${this.kvType} cache with kernels built for ${kernels.kvType}`);
    const layerBytes = nKvHeads * maxCtx * kvRowWords(headDim, this.kvType) * 4;
    for (let l = 0; l < cfg.nLayers; l++) {
      this.kv.push({ k: own(createStorage(device, layerBytes, `k${l}`)), v: own(createStorage(device, layerBytes, `v${l}`)) });
    }
    this.kvBytes = 2 * cfg.nLayers * layerBytes;

    const k = kernels;
    this.normParams = own(k.rmsnorm.createParams(dim, M, normEps));
    this.siluParams = own(k.siluMul.createParams(ffnDim));
    this.rope = {
      params: own(k.ropeKv.createParams({ nHeads, nKvHeads, headDim, ropeDim: cfg.ropeDim, maxCtx, base: cfg.ropeTheta, attnFactor: ropeAttnFactorFor(cfg, maxCtx) })),
      factors: weights.ropeFactors ?? own(k.ropeKv.createUnitFactors(cfg.ropeDim)),
    };
    const shape: AttentionShape = { nHeads, nKvHeads, headDim, maxCtx, window: opts.slidingWindow ? cfg.slidingWindow : 0, scale: cfg.attentionScale };
    const scratch = k.attention.createScratch(shape);
    own(scratch.partO);
    own(scratch.partML);
    this.attention = { shape, params: own(k.attention.createParams(shape)), step: this.step, scratch };

    if (cfg.arch === 'phi3small') {
      // the sparse layers' attention: the same scratch and Step, a shape (and uniform) with the pattern
      let sparseAttention: AttentionShared | undefined;
      if (cfg.blockSparse && Array.from({ length: cfg.nLayers }, (_, l) => l).some((l) => !isDenseLayer(cfg, l))) {
        const sparseShape: AttentionShape = { ...shape, sparse: cfg.blockSparse };
        sparseAttention = { shape: sparseShape, params: own(k.attention.createParams(sparseShape)), step: this.step, scratch };
      }
      const mask = k.logitMask.createMask(cfg.maskedIds, vocabSize);
      own(mask.ids);
      own(mask.params);
      this.small = {
        norm: own(k.layernorm.createParams(dim, M, normEps, false)),
        normPre: own(k.layernorm.createParams(dim, M, normEps, true)),
        qkvBias: own(k.biasAdd.createParams(dim + 2 * kvDim)),
        gegelu: own(k.gegelu.createParams(ffnDim, cfg.gegeluLimit)),
        mask,
        sparseAttention,
      };
    }
  }

  /** The attention a layer binds: the block-sparse one on cfg's sparse layers, else the dense one. */
  attentionOf(cfg: ModelConfig, layer: number): AttentionShared {
    if (isDenseLayer(cfg, layer)) return this.attention;
    if (!this.small?.sparseAttention) throw new Error(`state: layer ${layer} is sparse but no sparse attention was made`);
    return this.small.sparseAttention;
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}
