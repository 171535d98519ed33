import linearBindings from '../../shaders/linear_bindings.wgsl?raw';
import driver from '../../shaders/matmul.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { WeightKernel, createUniform, writeUniform } from './compute-kernel.ts';
import { checkBcastShape, matmulBcastSource, type BcastShape } from './matmul-bcast.ts';
import { matmulRegSource, regTileUnsupported, type RegTileShape } from './matmul-reg.ts';
import { weightShader } from './weight-formats.ts';
import type { GpuWeight, WeightFormat } from './weight-formats.ts';

export interface MatmulOptions {
  /** Weight rows per workgroup, a multiple of 8 (workgroup memory: rows * 256 B). */
  rowsPerWorkgroup?: number;
  /** Tokens per workgroup, a multiple of 4 (workgroup memory: tokens * 256 B). Threads = rows / 8 * tokens / 4. */
  tokensPerWorkgroup?: number;
  /**
   * The broadcast GEMM (src/kernels/matmul-bcast.ts: one subgroup per workgroup) instead of the
   * tiled one; rowsPerWorkgroup / tokensPerWorkgroup are then ignored.
   */
  bcast?: BcastShape;
  /**
   * The register-tiled GEMM (src/kernels/matmul-reg.ts, shaped for GPUs) in this shape instead
   * of the tiled one; rowsPerWorkgroup / tokensPerWorkgroup are then ignored, and so is regTile
   * when bcast is set. Its workgroups walk the token tiles of one row tile first (see workgroups).
   */
  regTile?: RegTileShape;
}

/** Prefill GEMM Y[m, :] (+)= W X[m, :] for m tokens over repacked weights (see shaders/matmul.wgsl). */
export class MatmulKernel {
  static readonly uniforms = new UniformLayout([
    ['k', 'u32'],
    ['rows', 'u32'],
    ['m', 'u32'],
    ['yStride', 'u32'],
    ['yOffset', 'u32'],
    ['accumulate', 'u32'],
  ] as const);

  private readonly kernel: WeightKernel;
  readonly rowsPerWorkgroup: number;
  readonly tokensPerWorkgroup: number;
  /** The register-tiled shape, when that variant was chosen. */
  readonly regTile?: RegTileShape;

  constructor(
    readonly device: GPUDevice,
    readonly format: WeightFormat,
    opts: MatmulOptions = {},
  ) {
    let label = `matmul.${format}`;
    let code: string;
    let constants: Record<string, number> = {};
    if (opts.bcast) {
      checkBcastShape(opts.bcast);
      if (!device.features.has('subgroups')) throw new Error('matmul (broadcast): the device lacks the subgroups feature');
      // the workgroup must be one subgroup: no wider than the adapter's smallest subgroup
      const min = ((device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo)?.subgroupMinSize;
      if (typeof min === 'number' && opts.bcast.subgroupSize > min) {
        throw new Error(`matmul (broadcast): ${opts.bcast.subgroupSize} lanes, but this adapter's subgroups may have as few as ${min}`);
      }
      this.rowsPerWorkgroup = opts.bcast.subgroupSize * opts.bcast.rowsPerLane;
      this.tokensPerWorkgroup = opts.bcast.tokens;
      code = weightShader(format, matmulBcastSource(format, opts.bcast), { subgroups: true });
    } else if (opts.regTile) {
      const why = regTileUnsupported(device, opts.regTile);
      if (why) throw new Error(`matmul (register-tiled): ${why}`);
      this.regTile = { ...opts.regTile };
      const t = opts.regTile;
      label += `.reg${t.rows}x${t.tokens}.${t.rowsPerThread}x${t.tokensPerThread}.${t.tile}`;
      this.rowsPerWorkgroup = opts.regTile.rows;
      this.tokensPerWorkgroup = opts.regTile.tokens;
      code = matmulRegSource(format, opts.regTile, MatmulKernel.uniforms.wgsl('Params'));
    } else {
      this.rowsPerWorkgroup = opts.rowsPerWorkgroup ?? 32;
      this.tokensPerWorkgroup = opts.tokensPerWorkgroup ?? 16;
      const tr = this.rowsPerWorkgroup;
      const tm = this.tokensPerWorkgroup;
      const threads = (tr / 8) * (tm / 4);
      if (!(tr >= 8 && tr % 8 === 0 && tm >= 4 && tm % 4 === 0)) throw new Error(`matmul: bad tile ${tr} rows x ${tm} tokens (multiples of 8 and 4)`);
      if (threads > device.limits.maxComputeInvocationsPerWorkgroup || threads > device.limits.maxComputeWorkgroupSizeX) {
        throw new Error(`matmul: a ${tr} x ${tm} tile needs ${threads} threads, over the device limit`);
      }
      if ((tr + tm) * 256 > device.limits.maxComputeWorkgroupStorageSize) throw new Error(`matmul: a ${tr} x ${tm} tile needs too much workgroup memory`);
      code = weightShader(format, `${linearBindings}\n${driver}`);
      constants = { TR: tr, TM: tm };
    }
    this.kernel = new WeightKernel(device, format, { label, code, constants });
  }

  /**
   * Uniform buffer for one weight (part) and m tokens: rows of k elements, written to columns
   * [yOffset, yOffset + rows) of Y, whose rows are yStride apart, or added to them when
   * `accumulate`. Rewrite it (writeParams) when m changes.
   */
  createParams(k: number, rows: number, m: number, yStride: number, yOffset = 0, accumulate = false): GPUBuffer {
    const buf = createUniform(this.device, MatmulKernel.uniforms, `matmul.${this.format}.params`);
    this.writeParams(buf, k, rows, m, yStride, yOffset, accumulate);
    return buf;
  }

  writeParams(buf: GPUBuffer, k: number, rows: number, m: number, yStride: number, yOffset = 0, accumulate = false): void {
    writeUniform(this.device, buf, MatmulKernel.uniforms, { k, rows, m, yStride, yOffset, accumulate: accumulate ? 1 : 0 });
  }

  /** x: [m, k] f32, y: [m, yStride] f32. */
  bind(w: GpuWeight, x: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.kernel.bindWeight(w, x, y, params);
  }

  /** Workgroups (x, y) for rows x m: row tiles x token tiles, or token tiles x row tiles for the register-tiled variant. */
  workgroups(rows: number, m: number): [number, number] {
    const rowTiles = Math.ceil(rows / this.rowsPerWorkgroup);
    const tokenTiles = Math.ceil(m / this.tokensPerWorkgroup);
    const n: [number, number] = this.regTile ? [tokenTiles, rowTiles] : [rowTiles, tokenTiles];
    if (Math.max(...n) > this.device.limits.maxComputeWorkgroupsPerDimension) throw new RangeError(`matmul: ${rows} rows x ${m} tokens exceed the dispatch limit`);
    return n;
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number, m: number): void {
    this.kernel.dispatch(pass, bindGroup, ...this.workgroups(rows, m));
  }
}
