/**
 * Decode GEMV with the RMSNorm of its input fused in (shaders/norm_matvec.wgsl):
 *   y[yOffset + r] (+)= sum_k W[r, k] * (x[k] * invRms(x) * g[k]).
 * Replaces an rmsnorm dispatch plus the matvec that reads its output. Each workgroup recomputes
 * sum x^2 over all of x from the chunks it loads for its rows anyway (k <= 8192 floats: nothing
 * next to its weight rows).
 */
import driver from '../../shaders/norm_matvec.wgsl?raw';
import grouped from '../../shaders/norm_matvec_groups.wgsl?raw';
import gemvNorm from '../../shaders/gemv_norm.wgsl?raw';
import { DecodeGemv, GEMV_LIMITS, type GemvOptions } from './gemv.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';

export interface NormMatvecOptions extends GemvOptions {
  /** Output rows per workgroup, 1..32 (default 16). */
  rowsPerWorkgroup?: number;
  /**
   * The input comes as x * g plus partial sums of x^2 (from a matvec with normOut): no g loads and
   * no squaring here. Bind with bindPrescaled; createParams needs `parts`.
   */
  prescaled?: boolean;
}

/** Decode GEMV y (+)= W (rmsnorm(x) * g) over repacked weights of one format. */
export class NormMatvecKernel extends DecodeGemv {
  readonly prescaled: boolean;

  constructor(device: GPUDevice, format: WeightFormat, opts: NormMatvecOptions = {}) {
    const prescaled = opts.prescaled ?? false;
    super(device, format, opts, {
      ...GEMV_LIMITS.normMatvec(),
      label: 'norm_matvec',
      code: `${gemvNorm}\n${driver}`,
      grouped: `${gemvNorm}\n${grouped}`,
      // g, or the partial sums of squares
      extra: ['read-only-storage'],
      constants: { PRESCALED: prescaled ? 1 : 0 },
    });
    this.prescaled = prescaled;
  }

  /**
   * Uniform buffer for one weight (part): k elements per row, `rows` rows, written to
   * y[yOffset .. yOffset + rows) or added to it when `accumulate`; eps of the norm. Made once at load.
   */
  createParams(p: { k: number; rows: number; eps: number; yOffset?: number; accumulate?: boolean; parts?: number }): GPUBuffer {
    if (this.prescaled) this.checkParts(p.parts);
    return this.createUniform({ ...p, parts: this.prescaled ? p.parts : undefined });
  }

  /** x: [k] f32 (un-normalized), g: [k] f32 norm weight, y: f32 with room for yOffset + rows (not x). */
  bind(w: GpuWeight, x: GPUBuffer, g: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (this.prescaled) throw new Error(`norm_matvec.${this.format}: a prescaled kernel binds with bindPrescaled`);
    this.checkVector('g', g, w.k);
    return this.normGroup(w, x, g, y, params);
  }

  /** xg: [k] f32 = x * g; partials: the partial sums of x^2 (vec4s, params' parts4 of them). */
  bindPrescaled(w: GpuWeight, xg: GPUBuffer, partials: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (!this.prescaled) throw new Error(`norm_matvec.${this.format}: bindPrescaled on a kernel made without prescaled`);
    return this.normGroup(w, xg, partials, y, params);
  }
}
