/**
 * Kernels bound to one weight and to the engine's buffers: what a graph's layer loop encodes. Each
 * owns the uniform buffers it made (destroy()); bind groups are made here, once, at load.
 *
 *   prefill (m tokens, m changes from chunk to chunk): BoundMatmul, BoundEmbed
 *   decode (one token, everything fixed at load):     BoundMatvec, BoundNormMatvec, BoundSwiglu, BoundEmbed
 *
 * A weight may be split by rows into parts (a tensor over the device's binding limit): one
 * dispatch per part, each writing its rows at its offset of y.
 */
import type { Kernels } from './kernels.ts';
import type { GemmRole, GemvRole } from './plan.ts';
import type { Linear } from './weights.ts';
import type { EmbedKernel } from '../kernels/embed.ts';
import type { MatmulKernel } from '../kernels/matmul.ts';
import type { MatvecKernel } from '../kernels/matvec.ts';
import type { NormMatvecKernel } from '../kernels/norm-matvec.ts';
import type { SwigluMatvecKernel } from '../kernels/swiglu-matvec.ts';
import type { AttentionShared } from '../kernels/attention.ts';

/** Something a layer loop encodes with one call. */
export interface Encodable {
  encode(pass: GPUComputePassEncoder): void;
}

/** Owns uniform buffers, destroyed with it. */
abstract class Owner {
  protected readonly owned: GPUBuffer[] = [];

  protected own(b: GPUBuffer): GPUBuffer {
    this.owned.push(b);
    return b;
  }

  /** Bytes of the buffers it owns. */
  get bytes(): number {
    return this.owned.reduce((n, b) => n + b.size, 0);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}

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

/** Prefill: Y[m, :] (+)= W X[m, :], rows of Y `yStride` floats apart. */
export class BoundMatmul extends Owner {
  private readonly kernel: MatmulKernel;
  private readonly parts: { rows: number; rowOffset: number; k: number; group: GPUBindGroup; params: GPUBuffer }[];
  private m = -1;

  constructor(
    kernels: Kernels,
    role: GemmRole,
    linear: Linear,
    x: GPUBuffer,
    y: GPUBuffer,
    private readonly yStride: number,
    private readonly accumulate: boolean,
  ) {
    super();
    const kernel = (this.kernel = kernels.matmul(role, linear.format));
    this.parts = linear.parts.map(({ weight, rowOffset }) => {
      const params = this.own(kernel.createParams(weight.k, weight.rows, 1, yStride, rowOffset, accumulate));
      return { rows: weight.rows, rowOffset, k: weight.k, group: kernel.bind(weight, x, y, params), params };
    });
  }

  /** Before encoding a chunk of m tokens (rewrites the params only when m changes). */
  setTokens(m: number): void {
    if (m === this.m) return;
    this.m = m;
    for (const p of this.parts) this.kernel.writeParams(p.params, p.k, p.rows, m, this.yStride, p.rowOffset, this.accumulate);
  }

  encode(pass: GPUComputePassEncoder, m: number): void {
    for (const p of this.parts) this.kernel.encode(pass, p.group, p.rows, m);
  }
}

/**
 * Decode: y (+)= W x. With `handoff` (a residual projection over the whole of y, in one part) it
 * also writes the next RMSNorm's inputs, and `prescaled` says what that norm then reads; unless
 * the role's kernel is split-K, which hands nothing off (`prescaled` stays undefined: the next
 * norm reads x and g). Where the plan has Wo merge the attention partials
 * (Kernels.mergesAttention), x is their merge instead: `attention` must then be given, and
 * `mergesAttention` is true.
 */
export class BoundMatvec extends Owner implements Encodable {
  private readonly kernel: MatvecKernel;
  private readonly parts: { rows: number; group: GPUBindGroup }[];
  /** With a hand-off: what the next norm kernel reads. */
  readonly prescaled?: PrescaledInput;
  /** Whether x is the merge of `attention`'s split-K partials (the merge pass is then not needed). */
  readonly mergesAttention: boolean;

  constructor(
    kernels: Kernels,
    role: GemvRole,
    linear: Linear,
    x: GPUBuffer,
    y: GPUBuffer,
    accumulate: boolean,
    handoff?: NormHandoff,
    attention?: Omit<AttentionShared, 'shape'>,
  ) {
    super();
    const wantHandoff = handoff && linear.parts.length === 1 && linear.parts[0].rowOffset === 0;
    const kernel = (this.kernel = kernels.matvec(role, linear.format, linear.k, wantHandoff));
    const withHandoff = wantHandoff && kernel.normOut;
    this.mergesAttention = kernel.attentionMerge !== undefined;
    if (this.mergesAttention && !attention) throw new Error(`${linear.name}: the plan merges the attention partials in this GEMV, but none were given`);
    this.parts = linear.parts.map(({ weight, rowOffset }) => {
      const params = this.own(kernel.createParams(weight.k, weight.rows, rowOffset, accumulate));
      const out = withHandoff ? handoff : undefined;
      if (attention && this.mergesAttention) return { rows: weight.rows, group: kernel.bindMerged(weight, attention, y, params, out) };
      return { rows: weight.rows, group: out ? kernel.bindNormOut(weight, x, y, params, out) : kernel.bind(weight, x, y, params) };
    });
    if (withHandoff) this.prescaled = { xg: handoff.xg, partials: handoff.partials, parts: kernel.partialCount(linear.parts[0].weight.rows) };
  }

  encode(pass: GPUComputePassEncoder): void {
    for (const p of this.parts) this.kernel.encode(pass, p.group, p.rows);
  }
}

/** Decode: y = W (rmsnorm(x) g), replacing rmsnorm + matvec. `pre`: read a hand-off instead of x and g. */
export class BoundNormMatvec extends Owner implements Encodable {
  private readonly kernel: NormMatvecKernel;
  private readonly parts: { rows: number; group: GPUBindGroup }[];

  constructor(kernels: Kernels, role: GemvRole, linear: Linear, x: GPUBuffer, g: GPUBuffer, y: GPUBuffer, eps: number, pre?: PrescaledInput) {
    super();
    const kernel = (this.kernel = kernels.normMatvec(role, linear.format, linear.k, pre !== undefined));
    this.parts = linear.parts.map(({ weight, rowOffset }) => {
      const params = this.own(kernel.createParams({ k: weight.k, rows: weight.rows, eps, yOffset: rowOffset, parts: pre?.parts }));
      return { rows: weight.rows, group: pre ? kernel.bindPrescaled(weight, pre.xg, pre.partials, y, params) : kernel.bind(weight, x, g, y, params) };
    });
  }

  encode(pass: GPUComputePassEncoder): void {
    for (const p of this.parts) this.kernel.encode(pass, p.group, p.rows);
  }
}

/**
 * Decode: h = silu(gate x') * (up x'), x' = rmsnorm(x) g, over the fused gate/up weight (gate rows,
 * then up rows) in one dispatch. The weight must be one part holding both (`fits`).
 */
export class BoundSwiglu extends Owner implements Encodable {
  private readonly kernel: SwigluMatvecKernel;
  private readonly group: GPUBindGroup;

  /** Whether `up` can be fused: one part holding the gate and the up rows. */
  static fits(up: Linear, ffn: number): boolean {
    return up.parts.length === 1 && up.rows === 2 * ffn;
  }

  constructor(
    kernels: Kernels,
    up: Linear,
    x: GPUBuffer,
    g: GPUBuffer,
    h: GPUBuffer,
    private readonly ffn: number,
    eps: number,
    pre?: PrescaledInput,
  ) {
    super();
    if (!BoundSwiglu.fits(up, ffn)) throw new Error(`swiglu: ${up.name} is not one part of ${2 * ffn} rows`);
    const kernel = (this.kernel = kernels.swigluMatvec('gateUp', up.format, up.k, pre !== undefined));
    const w = up.parts[0].weight;
    const params = this.own(kernel.createParams(w, { ffn, eps, parts: pre?.parts }));
    this.group = pre ? kernel.bindPrescaled(w, pre.xg, pre.partials, h, params) : kernel.bind(w, x, g, h, params);
  }

  encode(pass: GPUComputePassEncoder): void {
    this.kernel.encode(pass, this.group, this.ffn);
  }
}

/** x[m, :] = table[ids[m], :] * scale, one dispatch per part of the table. */
export class BoundEmbed extends Owner {
  private readonly kernel: EmbedKernel;
  private readonly parts: { k: number; rows: number; rowOffset: number; group: GPUBindGroup; params: GPUBuffer }[];
  private m: number;

  constructor(
    kernels: Kernels,
    table: Linear,
    ids: GPUBuffer,
    x: GPUBuffer,
    m: number,
    private readonly scale = 1,
  ) {
    super();
    const kernel = (this.kernel = kernels.embed(table.format));
    this.m = m;
    this.parts = table.parts.map(({ weight, rowOffset }) => {
      const params = this.own(kernel.createParams(weight.k, weight.rows, m, rowOffset, scale));
      return { k: weight.k, rows: weight.rows, rowOffset, group: kernel.bind(weight, ids, x, params), params };
    });
  }

  /** Before encoding m tokens (rewrites the params only when m changes). */
  setTokens(m: number): void {
    if (m === this.m) return;
    this.m = m;
    for (const p of this.parts) this.kernel.writeParams(p.params, p.k, p.rows, m, p.rowOffset, this.scale);
  }

  encode(pass: GPUComputePassEncoder): void {
    for (const p of this.parts) this.kernel.encode(pass, p.group, p.k, this.m);
  }
}
