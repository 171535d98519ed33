import driver from '../../shaders/matvec.wgsl?raw';
import grouped from '../../shaders/matvec_groups.wgsl?raw';
import storePlain from '../../shaders/matvec_store.wgsl?raw';
import storeNorm from '../../shaders/matvec_store_norm.wgsl?raw';
import storeSplit from '../../shaders/matvec_store_split.wgsl?raw';
import mergeInput from '../../shaders/matvec_merge.wgsl?raw';
import { DecodeGemv, GEMV_LIMITS, gemvVariantValid, type GemvOptions } from './gemv.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';
import { AttentionKernel, type AttentionShared } from './attention.ts';
import { STEP_WGSL } from './step.ts';

/**
 * A Wo GEMV whose input is the merge of split-K attention partials (shaders/matvec_merge.wgsl):
 * the attention's merge pass folded into the GEMV's load of x.
 */
export interface AttentionMergeShape {
  /** The row length: the attention output, nHeads * headDim. */
  k: number;
  /** Elements per head, a multiple of 4 (the partials are read as vec4). */
  headDim: number;
  /** Keys per split-K chunk of the attention kernel that writes the partials (AttentionKernel.chunk). */
  chunk: number;
}

/** Workgroup memory the merge takes, in f32s: the merged x (k) and (M, 1/L) per head. */
export function attentionMergeFloats(m: AttentionMergeShape): number {
  return m.k + 2 * (m.k / m.headDim);
}

/** Why a merge of this shape cannot be built (null if it can); the workgroup memory is checked with the GEMV's own. */
function attentionMergeProblem(m: AttentionMergeShape): string | null {
  if (!(Number.isInteger(m.headDim) && m.headDim >= 4 && m.headDim % 4 === 0)) return `matvec (attention merge): headDim ${m.headDim} is not a multiple of 4`;
  if (!(Number.isInteger(m.k) && m.k > 0 && m.k % m.headDim === 0)) return `matvec (attention merge): k ${m.k} is not a whole number of heads of ${m.headDim}`;
  if (!(Number.isInteger(m.chunk) && m.chunk >= 1)) return `matvec (attention merge): bad chunk ${m.chunk}`;
  return null;
}

/**
 * Null if a matvec with these options (attentionMerge included) can run on this device, else why
 * not: the constructor's checks, without building anything. A merge needs 4 (k + 2 k / headDim)
 * bytes of workgroup memory besides the GEMV's own: Phi-3-mini's k = 3072 fits a 16 KiB device in
 * the smaller shapes, Phi-3-medium's 5120 needs more than 16 KiB.
 */
export function matvecVariantValid(device: GPUDevice, opts: MatvecOptions): string | null {
  const m = opts.attentionMerge;
  const problem = m && attentionMergeProblem(m);
  if (problem) return problem;
  // Each of split-K's workgroups per row block would repeat the whole merge for a part of the row.
  if (m && (opts.splitK ?? 1) > 1) return `matvec (attention merge): not with split-K (${opts.splitK} workgroups per row block would each repeat the merge)`;
  if (m && 4 * attentionMergeFloats(m) > device.limits.maxComputeWorkgroupStorageSize) {
    return `matvec (attention merge): the merged input (${m.k} floats) needs ${4 * attentionMergeFloats(m)} B of workgroup memory, over the device's ${device.limits.maxComputeWorkgroupStorageSize}`;
  }
  const err = gemvVariantValid(device, 'matvec', { ...opts, mergeFloats: m ? attentionMergeFloats(m) : 0 });
  return err && m ? `${err} (with the attention merge's ${4 * attentionMergeFloats(m)} B)` : err;
}

/** matvec_merge.wgsl's generated header: its constants, the Step and AttnParams structs, bindings base.. base + 2. */
function attentionMergeHeader(m: AttentionMergeShape, base: number): string {
  return [
    `const XV: u32 = ${m.k / 4}u;`,
    `const HV: u32 = ${m.headDim / 4}u;`,
    `const NH: u32 = ${m.k / m.headDim}u;`,
    `const ATT_CHUNK: u32 = ${m.chunk}u;`,
    STEP_WGSL,
    AttentionKernel.uniforms.wgsl('AttnParams'),
    `@group(0) @binding(${base}) var<storage, read> part_ml: array<vec2<f32>>;`,
    `@group(0) @binding(${base + 1}) var<uniform> att_step: Step;`,
    `@group(0) @binding(${base + 2}) var<uniform> attn: AttnParams;`,
    '',
  ].join('\n');
}

export interface MatvecOptions extends GemvOptions {
  /** Output rows per workgroup, 1..32 (default 16: each thread reuses its x chunk across them). */
  rowsPerWorkgroup?: number;
  /**
   * Also write the next RMSNorm's inputs (shaders/matvec_store_norm.wgsl): x * g and per-workgroup
   * sums of squares, for a residual projection read next by a PRESCALED norm kernel. Bind with bindNormOut.
   */
  normOut?: boolean;
  /**
   * Read the input as split-K attention partials and merge them first (shaders/matvec_merge.wgsl),
   * for the Wo GEMV of a decoded token: the attention's merge dispatch is then not needed. Bind
   * with bindMerged.
   */
  attentionMerge?: AttentionMergeShape;
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
  readonly attentionMerge?: AttentionMergeShape;

  constructor(device: GPUDevice, format: WeightFormat, opts: MatvecOptions = {}) {
    const normOut = opts.normOut ?? false;
    const merge = opts.attentionMerge;
    const problem = merge && matvecVariantValid(device, opts);
    if (problem) throw new Error(problem);
    // g, xg, partials
    const extra: GPUBufferBindingType[] = normOut ? ['read-only-storage', 'storage', 'storage'] : [];
    super(device, format, opts, {
      ...GEMV_LIMITS.matvec(normOut, merge ? attentionMergeFloats(merge) : 0),
      label: (normOut ? 'matvec_norm_out' : 'matvec') + (merge ? '.merge' : ''),
      code: driver,
      grouped,
      tail: normOut ? storeNorm : storePlain,
      splitTail: storeSplit,
      // partML, step, attention params after the others
      extra: merge ? [...extra, 'read-only-storage', 'uniform', 'uniform'] : extra,
      bindings: merge ? attentionMergeHeader(merge, 5 + extra.length) + mergeInput : undefined,
    });
    this.normOut = normOut;
    this.attentionMerge = merge;
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
    if (this.attentionMerge) throw new Error(`matvec.${this.format}: an attention-merge kernel binds with bindMerged`);
    return this.group(w, x, y, params);
  }

  /**
   * An attention-merge kernel's bind group: y (+)= W x with x the merge of the split-K partials
   * that `att`'s decode pass wrote for one token (its scratch, its Step and its params, as the
   * attention kernel of chunk attentionMerge.chunk binds them), plus the hand-off with `out`
   * (normOut).
   */
  bindMerged(w: GpuWeight, att: Omit<AttentionShared, 'shape'>, y: GPUBuffer, params: GPUBuffer, out?: NormOutBuffers): GPUBindGroup {
    const m = this.attentionMerge;
    if (!m) throw new Error(`matvec.${this.format}: bindMerged on a kernel made without attentionMerge`);
    if (w.k !== m.k) throw new Error(`matvec.${this.format}: the merge was built for k = ${m.k}, the weight has ${w.k}`);
    if (this.normOut !== (out !== undefined)) throw new Error(`matvec.${this.format}: the hand-off buffers are needed exactly when normOut`);
    const handoff = out ? this.handoffBuffers(w, out) : [];
    return this.group(w, att.scratch.partO, y, params, ...handoff, att.scratch.partML, att.step, att.params);
  }

  /**
   * y (+)= W x, plus (normOut) xg = y * g and per-workgroup sums of y^2 in `partials`, for the
   * whole tensor w written at y offset 0 (params made with yOffset 0). g, xg: [w.rows] f32;
   * partials: partialsBytes(w.rows), zero-filled (its padding is never written).
   */
  bindNormOut(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, params: GPUBuffer, out: NormOutBuffers): GPUBindGroup {
    if (!this.normOut) throw new Error(`matvec.${this.format}: bindNormOut on a kernel made without normOut`);
    if (this.attentionMerge) throw new Error(`matvec.${this.format}: an attention-merge kernel binds with bindMerged`);
    return this.group(w, x, y, params, ...this.handoffBuffers(w, out));
  }

  /** The hand-off's bindings g, xg, partials, checked against w. */
  private handoffBuffers(w: GpuWeight, out: NormOutBuffers): GPUBuffer[] {
    for (const [what, b] of [['g', out.g], ['xg', out.xg]] as const) {
      if (b.size < 4 * w.rows) throw new RangeError(`matvec.${this.format}: ${what} has ${b.size} B, needs ${4 * w.rows}`);
    }
    if (out.partials.size < this.partialsBytes(w.rows)) throw new RangeError(`matvec.${this.format}: partials has ${out.partials.size} B, needs ${this.partialsBytes(w.rows)}`);
    return [out.g, out.xg, out.partials];
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
