import driver from '../../shaders/matvec.wgsl?raw';
import grouped from '../../shaders/matvec_groups.wgsl?raw';
import storePlain from '../../shaders/matvec_store.wgsl?raw';
import storeNorm from '../../shaders/matvec_store_norm.wgsl?raw';
import storeSplit from '../../shaders/matvec_store_split.wgsl?raw';
import { DecodeGemv, GEMV_LIMITS, type GemvOptions } from './gemv.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';

export interface MatvecOptions extends GemvOptions {
  /** Output rows per workgroup, 1..32 (default 16: each thread reuses its x chunk across them). */
  rowsPerWorkgroup?: number;
  /**
   * Also write the next RMSNorm's inputs (shaders/matvec_store_norm.wgsl): x * g and per-workgroup
   * sums of squares, for a residual projection read next by a PRESCALED norm kernel. Bind with bindNormOut.
   */
  normOut?: boolean;
}

/** What a normOut matvec writes for the next norm: g in, xg and partials out (see partialsBytes). */
export interface NormOutBuffers {
  g: GPUBuffer;
  xg: GPUBuffer;
  partials: GPUBuffer;
}

/** Decode GEMV y (+)= W x over repacked weights of one format (see shaders/matvec.wgsl). */
export class MatvecKernel extends DecodeGemv {
  readonly normOut: boolean;

  constructor(device: GPUDevice, format: WeightFormat, opts: MatvecOptions = {}) {
    const normOut = opts.normOut ?? false;
    super(device, format, opts, {
      ...GEMV_LIMITS.matvec(normOut),
      label: normOut ? 'matvec_norm_out' : 'matvec',
      code: driver,
      grouped,
      tail: normOut ? storeNorm : storePlain,
      splitTail: storeSplit,
      // g, xg, partials
      extra: normOut ? ['read-only-storage', 'storage', 'storage'] : [],
    });
    this.normOut = normOut;
  }

  /**
   * Uniform buffer for one weight (part): k elements per row, `rows` rows, written to
   * y[yOffset .. yOffset + rows), or added to it when `accumulate` (the residual add fused into
   * the output and down projections; split-K kernels only add). Made once at load.
   */
  createParams(k: number, rows: number, yOffset = 0, accumulate = false): GPUBuffer {
    if (this.splitK > 1 && !accumulate) throw new Error(`matvec.${this.format}: a split-K matvec adds to y (accumulate); it cannot overwrite it`);
    return this.createUniform({ k, rows, yOffset, accumulate });
  }

  /** x: [k] f32, y: f32 with room for yOffset + rows. */
  bind(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (this.normOut) throw new Error(`matvec.${this.format}: a normOut kernel binds with bindNormOut`);
    return this.group(w, x, y, params);
  }

  /**
   * y (+)= W x, plus (normOut) xg = y * g and per-workgroup sums of y^2 in `partials`, for the
   * whole tensor w written at y offset 0 (params made with yOffset 0). g, xg: [w.rows] f32;
   * partials: partialsBytes(w.rows), zero-filled (its padding is never written).
   */
  bindNormOut(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, params: GPUBuffer, out: NormOutBuffers): GPUBindGroup {
    if (!this.normOut) throw new Error(`matvec.${this.format}: bindNormOut on a kernel made without normOut`);
    for (const [what, b] of [['g', out.g], ['xg', out.xg]] as const) {
      if (b.size < 4 * w.rows) throw new RangeError(`matvec.${this.format}: ${what} has ${b.size} B, needs ${4 * w.rows}`);
    }
    if (out.partials.size < this.partialsBytes(w.rows)) throw new RangeError(`matvec.${this.format}: partials has ${out.partials.size} B, needs ${this.partialsBytes(w.rows)}`);
    return this.group(w, x, y, params, out.g, out.xg, out.partials);
  }

  /** Sums of squares a normOut dispatch over `rows` rows writes: one per workgroup. */
  partialCount(rows: number): number {
    return Math.ceil(rows / this.rowsPerWorkgroup);
  }

  /** Bytes of its partials buffer: whole vec4s (the readers load vec4s; the padding stays 0). */
  partialsBytes(rows: number): number {
    return 16 * Math.ceil(this.partialCount(rows) / 4);
  }
}
