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
import type { WeightFormat } from '../kernels/weight-formats.ts';
import type { ModelConfig } from '../model/config.ts';

export class Kernels {
  readonly rmsnorm: RmsNormKernel;
  readonly ropeKv: RopeKvKernel;
  readonly attention: AttentionKernel;
  readonly siluMul: SiluMulKernel;
  readonly sample: SampleKernel;
  private readonly matvecs = new Map<WeightFormat, MatvecKernel>();
  private readonly matmuls = new Map<WeightFormat, MatmulKernel>();
  private readonly embeds = new Map<WeightFormat, EmbedKernel>();

  constructor(
    readonly device: GPUDevice,
    cfg: ModelConfig,
  ) {
    this.rmsnorm = new RmsNormKernel(device);
    this.ropeKv = new RopeKvKernel(device, cfg.ropeStyle);
    this.attention = new AttentionKernel(device, cfg.headDim);
    this.siluMul = new SiluMulKernel(device);
    this.sample = new SampleKernel(device);
  }

  matvec(format: WeightFormat): MatvecKernel {
    let k = this.matvecs.get(format);
    if (!k) this.matvecs.set(format, (k = new MatvecKernel(this.device, format)));
    return k;
  }

  matmul(format: WeightFormat): MatmulKernel {
    let k = this.matmuls.get(format);
    if (!k) this.matmuls.set(format, (k = new MatmulKernel(this.device, format)));
    return k;
  }

  embed(format: WeightFormat): EmbedKernel {
    let k = this.embeds.get(format);
    if (!k) this.embeds.set(format, (k = new EmbedKernel(this.device, format)));
    return k;
  }
}
