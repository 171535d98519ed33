/**
 * Every pipeline the forward pass uses, made once per device, model shape and kernel plan
 * (src/engine/plan.ts: which variant and shape runs each role). Weight kernels exist per format
 * (a Q4_K_M file needs Q4_K, Q5_K and Q6_K variants of each) and per role's choice; two roles with
 * the same choice share one pipeline. The small kernels are made on first use, so the autotuner
 * can build a Kernels for one role's candidates without compiling the rest.
 */
import { RmsNormKernel } from '../kernels/rmsnorm.ts';
import { MatvecKernel } from '../kernels/matvec.ts';
import { MatmulKernel } from '../kernels/matmul.ts';
import { EmbedKernel } from '../kernels/embed.ts';
import { RopeKvKernel } from '../kernels/rope_kv.ts';
import { AttentionKernel, decodeChunkOf } from '../kernels/attention.ts';
import { SiluMulKernel } from '../kernels/silu_mul.ts';
import { SampleKernel } from '../kernels/sample.ts';
import { LayerNormKernel } from '../kernels/layernorm.ts';
import { BiasAddKernel } from '../kernels/bias_add.ts';
import { GegeluKernel } from '../kernels/gegelu.ts';
import { LogitMaskKernel } from '../kernels/logit_mask.ts';
import { NormMatvecKernel } from '../kernels/norm-matvec.ts';
import { SwigluMatvecKernel } from '../kernels/swiglu-matvec.ts';
import { formatInfo, hasF16Decoder, type WeightFormat } from '../kernels/weight-formats.ts';
import { deviceAdapterText, fitShape, type GemvShape } from '../kernels/tuning.ts';
import type { KvType, ModelConfig } from '../model/config.ts';
import { tablePlan, type GemmRole, type GemvChoice, type GemvRole, type KernelPlan } from './plan.ts';

export class Kernels {
  /** Which variant and shape runs each role. */
  readonly plan: KernelPlan;
  private readonly made = new Map<string, unknown>();

  constructor(
    readonly device: GPUDevice,
    readonly cfg: ModelConfig,
    plan?: KernelPlan,
    /** How the KV cache stores K and V: the RoPE + append and attention kernels read and write it so. */
    readonly kvType: KvType = 'f16',
  ) {
    this.plan = plan ?? tablePlan(deviceAdapterText(device), device.features.has('subgroups'));
  }

  /** The kernel under `key`, made by `make` the first time. */
  private once<K>(key: string, make: () => K): K {
    let k = this.made.get(key) as K | undefined;
    if (k === undefined) this.made.set(key, (k = make()));
    return k;
  }

  // The small kernels: made on first use, then plain field reads (the graphs ask for them per
  // layer on every step).
  private rmsnormK?: RmsNormKernel;
  private ropeKvK?: RopeKvKernel;
  private attentionK?: AttentionKernel;
  private siluMulK?: SiluMulKernel;
  private sampleK?: SampleKernel;
  private layernormK?: LayerNormKernel;
  private biasAddK?: BiasAddKernel;
  private gegeluK?: GegeluKernel;
  private logitMaskK?: LogitMaskKernel;

  get rmsnorm(): RmsNormKernel {
    return (this.rmsnormK ??= new RmsNormKernel(this.device));
  }

  get ropeKv(): RopeKvKernel {
    return (this.ropeKvK ??= new RopeKvKernel(this.device, this.cfg.ropeStyle, undefined, undefined, this.kvType));
  }

  get attention(): AttentionKernel {
    const { attnDecode, attnPrefill } = this.plan;
    return (this.attentionK ??= new AttentionKernel(this.device, this.cfg.headDim, { ropeStyle: this.cfg.ropeStyle, ...attnDecode, ...attnPrefill, kvType: this.kvType }));
  }

  get siluMul(): SiluMulKernel {
    return (this.siluMulK ??= new SiluMulKernel(this.device));
  }

  get sample(): SampleKernel {
    return (this.sampleK ??= new SampleKernel(this.device));
  }

  // phi3small's (made only by its graphs)
  get layernorm(): LayerNormKernel {
    return (this.layernormK ??= new LayerNormKernel(this.device));
  }

  get biasAdd(): BiasAddKernel {
    return (this.biasAddK ??= new BiasAddKernel(this.device));
  }

  get gegelu(): GegeluKernel {
    return (this.gegeluK ??= new GegeluKernel(this.device));
  }

  get logitMask(): LogitMaskKernel {
    return (this.logitMaskK ??= new LogitMaskKernel(this.device));
  }

  /**
   * Whether decode's Wo GEMV merges the attention partials itself (plan.gemv.wo.mergeAttention):
   * then the attention's merge pass is not dispatched.
   */
  get mergesAttention(): boolean {
    return this.plan.gemv.wo.mergeAttention === true;
  }

  /**
   * Decode GEMV of `role` for rows of k elements; `normOut`: with the hand-off to the next norm,
   * unless the role's choice is split-K, which has none (the kernel's normOut says which it got).
   * Wo with mergeAttention reads the attention kernel's partials (k = nHeads * headDim).
   */
  matvec(role: GemvRole, format: WeightFormat, k: number, normOut = false): MatvecKernel {
    if ((this.plan.gemv[role].splitK ?? 1) > 1) normOut = false;
    const merge = role === 'wo' && this.mergesAttention ? { k, headDim: this.cfg.headDim, chunk: decodeChunkOf(this.plan.attnDecode) } : undefined;
    if (merge && k !== this.cfg.nHeads * this.cfg.headDim) throw new Error(`Wo merging the attention partials: its rows have ${k} elements, the attention output ${this.cfg.nHeads * this.cfg.headDim}`);
    const tag = merge ? `${normOut}/merge ${merge.chunk}` : normOut;
    return this.gemv('matvec', role, format, k, tag, (shape) => new MatvecKernel(this.device, format, { ...shape, normOut, attentionMerge: merge }));
  }

  /** Prefill GEMM of `role`. */
  matmul(role: GemmRole, format: WeightFormat): MatmulKernel {
    const choice = this.plan.gemm[role];
    return this.once(`matmul/${format}/${JSON.stringify(choice)}`, () => new MatmulKernel(this.device, format, choice));
  }

  /** Decode: RMSNorm fused into the GEMV that reads its output (attn-norm + QKV, final norm + lm_head). */
  normMatvec(role: GemvRole, format: WeightFormat, k: number, prescaled = false): NormMatvecKernel {
    return this.gemv('norm_matvec', role, format, k, prescaled, (shape) => new NormMatvecKernel(this.device, format, { ...shape, prescaled }));
  }

  /** Decode: ffn-norm + gate/up GEMV + SiLU * up in one dispatch. */
  swigluMatvec(role: GemvRole, format: WeightFormat, k: number, prescaled = false): SwigluMatvecKernel {
    return this.gemv('swiglu_matvec', role, format, k, prescaled, (shape) => new SwigluMatvecKernel(this.device, format, { ...shape, prescaled }));
  }

  /**
   * A decode GEMV in the role's shape; a table shape (`fit`) is first fitted to rows of k
   * (tuning.ts fitShape). Made once per kind, shape and variant.
   */
  private gemv<K>(kind: string, role: GemvRole, format: WeightFormat, k: number, variant: boolean | string, make: (shape: GemvShape) => K): K {
    // mergeAttention is the caller's (matvec) to apply
    const { fit, mergeAttention: _merge, ...choice }: GemvChoice = this.plan.gemv[role];
    let shape: GemvShape & { f16?: boolean } = fit ? fitShape(choice, k / formatInfo(format).chunk, this.plan.balanceChunks) : choice;
    // f16 math where the format has an f16 decoder; F32 and BF16 weights stay in f32
    if (shape.f16 && !hasF16Decoder(format)) shape = { ...shape, f16: false };
    return this.once(`${kind}/${format}/${JSON.stringify(shape)}/${variant}`, () => make(shape));
  }

  embed(format: WeightFormat): EmbedKernel {
    return this.once(`embed/${format}`, () => new EmbedKernel(this.device, format));
  }
}
