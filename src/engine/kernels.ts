/**
 * Every pipeline the forward pass uses, made once per device and model shape. Weight kernels
 * exist per format (a Q4_K_M file needs Q4_K, Q5_K and Q6_K variants of each).
 */
import { RmsNormKernel } from '../kernels/rmsnorm.ts';
import { MatvecKernel } from '../kernels/matvec.ts';
import { MatmulKernel } from '../kernels/matmul.ts';
import { EmbedKernel } from '../kernels/embed.ts';
import { RopeKvKernel } from '../kernels/rope_kv.ts';
import { AttentionKernel } from '../kernels/attention.ts';
import { SiluMulKernel } from '../kernels/silu_mul.ts';
import { SampleKernel } from '../kernels/sample.ts';
import { NormMatvecKernel } from '../kernels/norm-matvec.ts';
import { SwigluMatvecKernel } from '../kernels/swiglu-matvec.ts';
import { formatInfo, type WeightFormat } from '../kernels/weight-formats.ts';
import { decodeTuning, deviceAdapterText, fitShape, type GemvShape } from '../kernels/tuning.ts';
import type { DecodeTuning } from '../kernels/tuning.ts';
import type { ModelConfig } from '../model/config.ts';

export class Kernels {
  readonly rmsnorm: RmsNormKernel;
  readonly ropeKv: RopeKvKernel;
  readonly attention: AttentionKernel;
  readonly siluMul: SiluMulKernel;
  readonly sample: SampleKernel;
  /** Decode GEMV shapes for this adapter (src/kernels/tuning.ts). */
  readonly tuning: DecodeTuning;
  private readonly matvecs = new Map<string, MatvecKernel>();
  private readonly matmuls = new Map<WeightFormat, MatmulKernel>();
  private readonly embeds = new Map<WeightFormat, EmbedKernel>();
  private readonly normMatvecs = new Map<string, NormMatvecKernel>();
  private readonly swigluMatvecs = new Map<string, SwigluMatvecKernel>();

  constructor(
    readonly device: GPUDevice,
    cfg: ModelConfig,
  ) {
    this.rmsnorm = new RmsNormKernel(device);
    this.ropeKv = new RopeKvKernel(device, cfg.ropeStyle);
    this.attention = new AttentionKernel(device, cfg.headDim, { ropeStyle: cfg.ropeStyle });
    this.siluMul = new SiluMulKernel(device);
    this.sample = new SampleKernel(device);
    this.tuning = decodeTuning(deviceAdapterText(device), device.features.has('subgroups'));
  }

  /** Decode GEMV for rows of k elements (the workgroup is narrowed for short rows: tuning.ts fitShape). */
  matvec(format: WeightFormat, k: number, normOut = false): MatvecKernel {
    return this.fitted(this.matvecs, this.tuning.matvec, format, k, normOut, (shape) => new MatvecKernel(this.device, format, { ...shape, normOut }));
  }

  matmul(format: WeightFormat): MatmulKernel {
    let k = this.matmuls.get(format);
    if (!k) this.matmuls.set(format, (k = new MatmulKernel(this.device, format, this.tuning.matmul ? { bcast: this.tuning.matmul } : {})));
    return k;
  }

  /** Decode: RMSNorm fused into the GEMV that reads its output (attn-norm + QKV, final norm + lm_head). */
  normMatvec(format: WeightFormat, k: number, prescaled = false): NormMatvecKernel {
    return this.fitted(this.normMatvecs, this.tuning.normMatvec, format, k, prescaled, (shape) => new NormMatvecKernel(this.device, format, { ...shape, prescaled }));
  }

  /** Decode: ffn-norm + gate/up GEMV + SiLU * up in one dispatch. */
  swigluMatvec(format: WeightFormat, k: number, prescaled = false): SwigluMatvecKernel {
    return this.fitted(this.swigluMatvecs, this.tuning.swigluMatvec, format, k, prescaled, (shape) => new SwigluMatvecKernel(this.device, format, { ...shape, prescaled }));
  }

  /** A decode GEMV kernel in `tuned`'s shape fitted to rows of k (tuning.ts fitShape), made once per shape and variant. */
  private fitted<K>(cache: Map<string, K>, tuned: GemvShape, format: WeightFormat, k: number, variant: boolean, make: (shape: GemvShape) => K): K {
    const shape = fitShape(tuned, k / formatInfo(format).chunk, this.tuning.balanceChunks);
    const key = `${format}/${shape.workgroupSize}/${shape.rowsPerWorkgroup}/${variant}`;
    let kern = cache.get(key);
    if (!kern) cache.set(key, (kern = make(shape)));
    return kern;
  }

  embed(format: WeightFormat): EmbedKernel {
    let k = this.embeds.get(format);
    if (!k) this.embeds.set(format, (k = new EmbedKernel(this.device, format)));
    return k;
  }
}
