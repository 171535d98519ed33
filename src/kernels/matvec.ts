import driver from '../../shaders/matvec.wgsl?raw';
import storePlain from '../../shaders/matvec_store.wgsl?raw';
import storeNorm from '../../shaders/matvec_store_norm.wgsl?raw';
import reduceSubgroup from '../../shaders/reduce_subgroup.wgsl?raw';
import reduceTree from '../../shaders/reduce_tree.wgsl?raw';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { checkWeight, weightBindEntries, weightLayoutEntries, weightShader } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';

export interface MatvecOptions {
  /** Threads per workgroup; a power of two. */
  workgroupSize?: number;
  /** Output rows per workgroup, 1..16 (default 16: each thread reuses its x chunk across them). */
  rowsPerWorkgroup?: number;
  /** Reduce with subgroupAdd; defaults to whether the device has the `subgroups` feature. */
  subgroups?: boolean;
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

const MAX_ROWS = 32;

/** Decode GEMV y (+)= W x over repacked weights of one format (see shaders/matvec.wgsl). */
export class MatvecKernel {
  static readonly uniforms = new UniformLayout([
    ['k', 'u32'],
    ['rows', 'u32'],
    ['yOffset', 'u32'],
    ['accumulate', 'u32'],
  ] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;
  readonly workgroupSize: number;
  readonly rowsPerWorkgroup: number;
  readonly subgroups: boolean;
  readonly normOut: boolean;

  constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    opts: MatvecOptions = {},
  ) {
    this.workgroupSize = opts.workgroupSize ?? 64;
    this.rowsPerWorkgroup = opts.rowsPerWorkgroup ?? 16;
    this.subgroups = opts.subgroups ?? device.features.has('subgroups');
    this.normOut = opts.normOut ?? false;
    const wg = this.workgroupSize;
    if (wg & (wg - 1) || wg < 1 || wg > device.limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`matvec: workgroup size ${wg} is not a power of two within the device limit`);
    }
    if (!(this.rowsPerWorkgroup >= 1 && this.rowsPerWorkgroup <= MAX_ROWS)) {
      throw new Error(`matvec: rows per workgroup ${this.rowsPerWorkgroup} outside 1..${MAX_ROWS}`);
    }
    // thread r writes output row r
    if (this.rowsPerWorkgroup > this.workgroupSize) throw new Error(`matvec: ${this.rowsPerWorkgroup} rows per workgroup need at least as many threads (got ${this.workgroupSize})`);
    if (this.subgroups && !device.features.has('subgroups')) throw new Error('matvec: the device lacks the subgroups feature');
    const label = `matvec${this.normOut ? '_norm_out' : ''}.${format}`;
    this.layout = device.createBindGroupLayout({
      label,
      entries: [
        ...weightLayoutEntries(format),
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
        ...(this.normOut
          ? ([
              { binding: 5, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
              { binding: 6, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
              { binding: 7, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
            ] as const)
          : []),
      ],
    });
    const tail = `${this.subgroups ? reduceSubgroup : reduceTree}\n${this.normOut ? storeNorm : storePlain}`;
    const code = weightShader(format, driver, { subgroups: this.subgroups, tail });
    this.compiled = compileCompute(device, {
      label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: {
        module: device.createShaderModule({ label, code }),
        entryPoint: 'main',
        constants: { WG: wg, ROWS: this.rowsPerWorkgroup },
      },
    });
  }

  get pipeline(): GPUComputePipeline {
    return this.compiled.get();
  }

  /**
   * Uniform buffer for one weight (part): k elements per row, `rows` rows, written to
   * y[yOffset .. yOffset + rows), or added to it when `accumulate` (the residual add fused into
   * the output and down projections). Made once at load.
   */
  createParams(k: number, rows: number, yOffset = 0, accumulate = false): GPUBuffer {
    const buf = this.device.createBuffer({
      label: `matvec.${this.format}.params`,
      size: MatvecKernel.uniforms.byteSize,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(buf, 0, MatvecKernel.uniforms.pack({ k, rows, yOffset, accumulate: accumulate ? 1 : 0 }));
    return buf;
  }

  /** x: [k] f32, y: f32 with room for yOffset + rows. */
  bind(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    if (this.normOut) throw new Error(`matvec.${this.format}: a normOut kernel binds with bindNormOut`);
    return this.group(w, x, y, params, []);
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
    return this.group(w, x, y, params, [
      { binding: 5, resource: { buffer: out.g } },
      { binding: 6, resource: { buffer: out.xg } },
      { binding: 7, resource: { buffer: out.partials } },
    ]);
  }

  private group(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, params: GPUBuffer, extra: GPUBindGroupEntry[]): GPUBindGroup {
    if (w.format !== this.format) throw new Error(`matvec.${this.format}: got a ${w.format} weight`);
    return this.device.createBindGroup({
      label: `matvec${this.normOut ? '_norm_out' : ''}.${this.format}`,
      layout: this.layout,
      entries: [
        ...weightBindEntries(w),
        { binding: 2, resource: { buffer: x } },
        { binding: 3, resource: { buffer: y } },
        { binding: 4, resource: { buffer: params } },
        ...extra,
      ],
    });
  }

  /** Sums of squares a normOut dispatch over `rows` rows writes: one per workgroup. */
  partialCount(rows: number): number {
    return Math.ceil(rows / this.rowsPerWorkgroup);
  }

  /** Bytes of its partials buffer: whole vec4s (the readers load vec4s; the padding stays 0). */
  partialsBytes(rows: number): number {
    return 16 * Math.ceil(this.partialCount(rows) / 4);
  }

  workgroups(rows: number): number {
    const n = Math.ceil(rows / this.rowsPerWorkgroup);
    if (n > this.device.limits.maxComputeWorkgroupsPerDimension) throw new RangeError(`matvec: ${rows} rows need ${n} workgroups, over the device limit`);
    return n;
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(this.workgroups(rows));
  }
}

/**
 * One-off run for tests and the self-test: y = W x (or yInit + W x when accumulating) over the
 * weight parts, each writing its rows at its row offset. Not for the hot path.
 */
export async function runMatvec(
  kernel: MatvecKernel,
  parts: readonly { weight: GpuWeight; rowOffset: number }[],
  x: Float32Array,
  yInit: Float32Array,
  accumulate = false,
): Promise<Float32Array> {
  const { device } = kernel;
  const xb = uploadStorage(device, x, 'matvec.x');
  const yb = uploadStorage(device, yInit, 'matvec.y');
  const params: GPUBuffer[] = [];
  const enc = device.createCommandEncoder({ label: 'matvec.once' });
  const pass = enc.beginComputePass();
  for (const { weight, rowOffset } of parts) {
    checkWeight(weight);
    if (weight.k !== x.length) throw new RangeError(`matvec: x has ${x.length} values, weight rows ${weight.k}`);
    if (rowOffset + weight.rows > yInit.length) throw new RangeError('matvec: y too short for the weight rows');
    const p = kernel.createParams(weight.k, weight.rows, rowOffset, accumulate);
    params.push(p);
    kernel.encode(pass, kernel.bind(weight, xb, yb, p), weight.rows);
  }
  pass.end();
  device.queue.submit([enc.finish()]);
  const y = new Float32Array(await readBuffer(device, yb, yInit.byteLength));
  for (const b of [xb, yb, ...params]) b.destroy();
  return y;
}
