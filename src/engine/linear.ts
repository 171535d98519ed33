/**
 * A linear layer bound to its input and output buffers, for both step kinds:
 *   decode (1 token): matvec, one dispatch per part, params fixed at load;
 *   prefill (M tokens): matmul, params rewritten per chunk (M changes), bind groups fixed.
 */
import type { Kernels } from './kernels.ts';
import type { Linear } from './weights.ts';
import type { MatmulKernel } from '../kernels/matmul.ts';
import type { MatvecKernel } from '../kernels/matvec.ts';
import type { NormMatvecKernel } from '../kernels/norm-matvec.ts';
import type { SwigluMatvecKernel } from '../kernels/swiglu-matvec.ts';

/**
 * The decode chain's hand-off (shaders/matvec_store_norm.wgsl): a residual projection writes x * g
 * of the next RMSNorm into `xg` and its sums of squares into `partials`; the next norm kernel
 * (PRESCALED) reads them instead of x and g.
 */
export interface NormHandoff {
  /** The next norm's weight. */
  g: GPUBuffer;
  xg: GPUBuffer;
  partials: GPUBuffer;
}

/** What a PRESCALED norm kernel reads: the hand-off buffers and how many partial sums there are. */
export interface PrescaledInput {
  xg: GPUBuffer;
  partials: GPUBuffer;
  parts: number;
}

interface PartBinding {
  rows: number;
  rowOffset: number;
  k: number;
  matGroup: GPUBindGroup;
  matParams: GPUBuffer;
}

export class BoundLinear {
  private readonly parts: PartBinding[];
  /** Decode: one matvec dispatch per part, or the one that also writes the hand-off. */
  private readonly vecs: { kernel: MatvecKernel; group: GPUBindGroup; rows: number }[];
  private readonly mat: MatmulKernel;
  private m = -1;
  readonly owned: GPUBuffer[] = [];
  /** With a hand-off: what the next norm kernel reads. */
  readonly prescaled?: PrescaledInput;

  constructor(
    kernels: Kernels,
    readonly linear: Linear,
    x: GPUBuffer,
    y: GPUBuffer,
    /** Floats between consecutive token rows of y. */
    readonly yStride: number,
    readonly accumulate: boolean,
    /**
     * Decode: also write the next RMSNorm's inputs (a residual projection over the whole of y,
     * in one part; ignored otherwise, and `prescaled` stays undefined).
     */
    handoff?: NormHandoff,
  ) {
    this.mat = kernels.matmul(linear.format);
    const withHandoff = handoff && linear.parts.length === 1 && linear.parts[0].rowOffset === 0;
    const vec = kernels.matvec(linear.format, linear.k, withHandoff);
    this.vecs = linear.parts.map(({ weight, rowOffset }) => {
      const params = vec.createParams(weight.k, weight.rows, rowOffset, accumulate);
      this.owned.push(params);
      const group = withHandoff ? vec.bindNormOut(weight, x, y, params, handoff) : vec.bind(weight, x, y, params);
      return { kernel: vec, group, rows: weight.rows };
    });
    if (withHandoff) this.prescaled = { xg: handoff.xg, partials: handoff.partials, parts: vec.partialCount(linear.parts[0].weight.rows) };
    this.parts = linear.parts.map(({ weight, rowOffset }) => {
      const matParams = this.mat.createParams(weight.k, weight.rows, 1, yStride, rowOffset, accumulate);
      this.owned.push(matParams);
      return { rows: weight.rows, rowOffset, k: weight.k, matGroup: this.mat.bind(weight, x, y, matParams), matParams };
    });
  }

  /** Call before encoding a prefill chunk of m tokens (writes the params only when m changes). */
  setTokens(m: number): void {
    if (m === this.m) return;
    this.m = m;
    for (const p of this.parts) this.mat.writeParams(p.matParams, p.k, p.rows, m, this.yStride, p.rowOffset, this.accumulate);
  }

  encode(pass: GPUComputePassEncoder, m: number): void {
    if (m === 1) for (const v of this.vecs) v.kernel.encode(pass, v.group, v.rows);
    else for (const p of this.parts) this.mat.encode(pass, p.matGroup, p.rows, m);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}

/** Decode only: y = W (rmsnorm(x) g), one norm_matvec dispatch per part (replaces rmsnorm + matvec). */
export class BoundNormLinear {
  private readonly kernel: NormMatvecKernel;
  private readonly parts: { rows: number; group: GPUBindGroup }[];
  readonly owned: GPUBuffer[] = [];

  /** `pre`: read x * g and the sums of squares a residual projection handed off, not x and g. */
  constructor(kernels: Kernels, linear: Linear, x: GPUBuffer, g: GPUBuffer, y: GPUBuffer, eps: number, pre?: PrescaledInput) {
    const kernel = (this.kernel = kernels.normMatvec(linear.format, linear.k, pre !== undefined));
    this.parts = linear.parts.map(({ weight, rowOffset }) => {
      const params = kernel.createParams({ k: weight.k, rows: weight.rows, eps, yOffset: rowOffset, parts: pre?.parts });
      this.owned.push(params);
      return { rows: weight.rows, group: pre ? kernel.bindPrescaled(weight, pre.xg, pre.partials, y, params) : kernel.bind(weight, x, g, y, params) };
    });
  }

  encode(pass: GPUComputePassEncoder): void {
    for (const p of this.parts) this.kernel.encode(pass, p.group, p.rows);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}

/**
 * Decode only: h = silu(gate x') * (up x'), x' = rmsnorm(x) g, over the fused gate/up weight
 * (gate rows, then up rows) in one dispatch. Needs the weight in one part: `tryCreate` returns
 * undefined for a split one (the caller keeps rmsnorm + matvec + silu_mul).
 */
export class BoundSwiglu {
  readonly owned: GPUBuffer[] = [];

  private constructor(
    private readonly kernel: SwigluMatvecKernel,
    private readonly group: GPUBindGroup,
    private readonly ffn: number,
    params: GPUBuffer,
  ) {
    this.owned.push(params);
  }

  /** Whether `up` can be fused (one part holding the gate and up rows). */
  static fits(up: Linear, ffn: number): boolean {
    return up.parts.length === 1 && up.rows === 2 * ffn;
  }

  /** `pre`: read x * g and the sums of squares a residual projection handed off, not x and g. */
  static tryCreate(kernels: Kernels, up: Linear, x: GPUBuffer, g: GPUBuffer, h: GPUBuffer, ffn: number, eps: number, pre?: PrescaledInput): BoundSwiglu | undefined {
    if (!BoundSwiglu.fits(up, ffn)) return undefined;
    const kernel = kernels.swigluMatvec(up.format, up.k, pre !== undefined);
    const w = up.parts[0].weight;
    const params = kernel.createParams(w, { ffn, eps, parts: pre?.parts });
    const group = pre ? kernel.bindPrescaled(w, pre.xg, pre.partials, h, params) : kernel.bind(w, x, g, h, params);
    return new BoundSwiglu(kernel, group, ffn, params);
  }

  encode(pass: GPUComputePassEncoder): void {
    this.kernel.encode(pass, this.group, this.ffn);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}
