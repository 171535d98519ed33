/**
 * Phi-3's feed-forward input side in one decode dispatch (shaders/swiglu_matvec.wgsl):
 *   h[yOffset + r] (+)= silu(gate_r . x') * (up_r . x'),  r < ffn,
 * x' = rmsnorm(x) * g (option `norm`, default) or x, gate_r = row r and up_r = row upRow + r of
 * the fused ffn_up weight (upRow = ffn: gate rows first, then up). Replaces ffn_norm + ffn_up +
 * silu_mul. Gate and up rows must be in the same GpuWeight: an unsplit ffn_up (Phi-3's Q4_K
 * ffn_up is 28 MB, far under any binding limit), not the row-range parts of a split one.
 */
import driver from '../../shaders/swiglu_matvec.wgsl?raw';
import grouped from '../../shaders/swiglu_matvec_groups.wgsl?raw';
import gemvNorm from '../../shaders/gemv_norm.wgsl?raw';
import silu from '../../shaders/silu.wgsl?raw';
import { DecodeGemv, GEMV_LIMITS, type GemvOptions } from './gemv.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';

export interface SwigluMatvecOptions extends GemvOptions {
  /** Output rows per workgroup, 1..16 (default 8: 16 weight rows, as matvec's default). */
  rowsPerWorkgroup?: number;
  /** Fuse the RMSNorm of x (default true); without it g is not read and bind() takes none. */
  norm?: boolean;
  /** With norm: the input comes as x * g plus partial sums of x^2 (norm-matvec.ts NormMatvecOptions). */
  prescaled?: boolean;
}

export class SwigluMatvecKernel extends DecodeGemv {
  readonly norm: boolean;
  readonly prescaled: boolean;

  constructor(device: GPUDevice, format: WeightFormat, opts: SwigluMatvecOptions = {}) {
    const norm = opts.norm ?? true;
    const prescaled = opts.prescaled ?? false;
    if (prescaled && !norm) throw new Error('swiglu_matvec: prescaled input needs the fused norm');
    super(device, format, opts, {
      ...GEMV_LIMITS.swigluMatvec(),
      label: 'swiglu_matvec',
      code: `${gemvNorm}\n${silu}\n${driver}`,
      grouped: `${gemvNorm}\n${silu}\n${grouped}`,
      // g (read with norm only), or the partial sums of squares
      extra: ['read-only-storage'],
      constants: { NORM: norm ? 1 : 0, PRESCALED: prescaled ? 1 : 0 },
    });
    this.norm = norm;
    this.prescaled = prescaled;
  }

  /**
   * Uniform buffer for the fused gate/up weight `w`: `ffn` outputs to h[yOffset .. yOffset + ffn)
   * (added when `accumulate`), gate rows 0 .. ffn, up rows upRow .. upRow + ffn (default ffn).
   * Checks that `w` holds both row ranges. Made once at load.
   */
  createParams(w: GpuWeight, p: { ffn: number; eps?: number; yOffset?: number; accumulate?: boolean; upRow?: number; parts?: number }): GPUBuffer {
    if (this.prescaled) this.checkParts(p.parts);
    const upRow = p.upRow ?? p.ffn;
    if (!(Number.isInteger(p.ffn) && p.ffn >= 1)) throw new RangeError(`swiglu_matvec: ffn ${p.ffn}`);
    if (upRow < p.ffn || upRow + p.ffn > w.rows) {
      throw new RangeError(`swiglu_matvec: gate rows 0..${p.ffn} and up rows ${upRow}..${upRow + p.ffn} do not fit a ${w.rows}-row weight`);
    }
    if (this.norm && p.eps === undefined) throw new Error('swiglu_matvec: the fused norm needs eps');
    return this.createUniform({ ...p, k: w.k, rows: p.ffn, upRow, parts: this.prescaled ? p.parts : undefined });
  }

  /**
   * x: [k] f32, g: [k] f32 norm weight (null without `norm`; x is then bound in its place and
   * never read through it), h: f32 with room for yOffset + ffn (not x).
   */
  bind(w: GpuWeight, x: GPUBuffer, g: GPUBuffer | null, h: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (this.prescaled) throw new Error(`swiglu_matvec.${this.format}: a prescaled kernel binds with bindPrescaled`);
    if (this.norm && !g) throw new Error('swiglu_matvec: the fused norm needs its weight g');
    if (g) this.checkVector('g', g, w.k);
    return this.normGroup(w, x, g ?? x, h, params);
  }

  /** xg: [k] f32 = x * g; partials: the partial sums of x^2 (vec4s, params' parts4 of them). */
  bindPrescaled(w: GpuWeight, xg: GPUBuffer, partials: GPUBuffer, h: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (!this.prescaled) throw new Error(`swiglu_matvec.${this.format}: bindPrescaled on a kernel made without prescaled`);
    return this.normGroup(w, xg, partials, h, params);
  }
}
