import linearBindings from '../../shaders/linear_bindings.wgsl?raw';
import driver from '../../shaders/matmul_reg.wgsl?raw';
import { weightShader, type WeightFormat } from './weight-formats.ts';

/**
 * Shape of the register-tiled prefill GEMM (shaders/matmul_reg.wgsl), the variant meant for
 * GPUs: (rows / rowsPerThread) x (tokens / tokensPerThread) threads per workgroup (64-256 in
 * REG_TILE_CANDIDATES; any count the device allows works), each with a rowsPerThread x
 * tokensPerThread tile of f32 sums; the weight tile dequantized once per workgroup and k tile
 * into workgroup memory.
 */
export interface RegTileShape {
  /** Weight rows per workgroup: a multiple of rowsPerThread. */
  rows: number;
  /** Tokens per workgroup: a multiple of tokensPerThread. */
  tokens: number;
  /** Rows of each thread's register tile: 4 or 8. */
  rowsPerThread: number;
  /** Tokens of each thread's register tile: 4 or 8. */
  tokensPerThread: number;
  /**
   * Element type of the workgroup tiles. 'f16' needs the device feature 'shader-f16'; it halves
   * workgroup memory and its traffic, and rounds every weight and activation to f16 (relative
   * error up to 2^-10 each; magnitudes above 65504 may become infinite) before the f32 products.
   */
  tile: 'f32' | 'f16';
}

/** Elements of k per tile (shaders/matmul_reg.wgsl TK: whole chunks of every format). */
const TK = 64;

/** What regTileUnsupported reads of a device (a GPUDevice or a GPUAdapter has it). */
export interface DeviceCaps {
  features: { has(name: string): boolean };
  limits: Pick<GPUSupportedLimits, 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxComputeWorkgroupStorageSize'>;
}

/** Threads per workgroup of a shape. */
export function regTileThreads(s: RegTileShape): number {
  return (s.rows / s.rowsPerThread) * (s.tokens / s.tokensPerThread);
}

/** Bytes of workgroup memory of a shape: a k tile of its rows and tokens, each padded by one vec4. */
export function regTileWorkgroupBytes(s: RegTileShape): number {
  return (s.rows + s.tokens) * (TK / 4 + 1) * 4 * (s.tile === 'f16' ? 2 : 4);
}

/** Null when the shape is well formed, else why not (device-independent). */
function badShape(s: RegTileShape): string | null {
  const { rows, tokens, rowsPerThread: rr, tokensPerThread: rt, tile } = s;
  if (![4, 8].includes(rr) || ![4, 8].includes(rt)) return `a thread's tile is ${rr} x ${rt}; rows and tokens per thread must be 4 or 8`;
  if (!Number.isInteger(rows) || rows < rr || rows % rr !== 0) return `${rows} rows per workgroup is not a positive multiple of ${rr} rows per thread`;
  if (!Number.isInteger(tokens) || tokens < rt || tokens % rt !== 0) return `${tokens} tokens per workgroup is not a positive multiple of ${rt} tokens per thread`;
  if (tile !== 'f32' && tile !== 'f16') return `tile type ${String(tile)} is neither 'f32' nor 'f16'`;
  return null;
}

/**
 * Null when the register-tiled GEMM can run in this shape on this device, else the reason it
 * cannot (for an autotuner's candidate list; MatmulKernel throws it). Any weight format works
 * with any shape.
 */
export function regTileUnsupported(caps: DeviceCaps, s: RegTileShape): string | null {
  const bad = badShape(s);
  if (bad) return bad;
  if (s.tile === 'f16' && !caps.features.has('shader-f16')) return "f16 tiles need the 'shader-f16' feature, which this device lacks";
  const threads = regTileThreads(s);
  const maxThreads = Math.min(caps.limits.maxComputeInvocationsPerWorkgroup, caps.limits.maxComputeWorkgroupSizeX);
  if (threads > maxThreads) return `a ${s.rows} x ${s.tokens} tile of ${s.rowsPerThread} x ${s.tokensPerThread} per thread needs ${threads} threads; this device allows ${maxThreads}`;
  const bytes = regTileWorkgroupBytes(s);
  if (bytes > caps.limits.maxComputeWorkgroupStorageSize) {
    return `a ${s.rows} x ${s.tokens} ${s.tile} tile needs ${bytes} B of workgroup memory; this device allows ${caps.limits.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}

/**
 * Shapes worth timing on a GPU, for an autotuner (filter them with regTileUnsupported): 64 to
 * 256 threads (whole 32- or 64-wide subgroups), 16 to 64 f32 sums per thread, tiles at least
 * 32 rows wide (see the bank-conflict note in shaders/matmul_reg.wgsl). All fit the 32 KiB of
 * workgroup memory most GPUs report (13-26 KiB: regTileWorkgroupBytes); WebGPU's default of
 * 16 KiB holds only the f16 64 x 32 tile, and the engine requests the adapter's limit.
 */
export const REG_TILE_CANDIDATES: readonly RegTileShape[] = [
  { rows: 32, tokens: 32, rowsPerThread: 4, tokensPerThread: 4, tile: 'f32' },
  { rows: 64, tokens: 32, rowsPerThread: 4, tokensPerThread: 4, tile: 'f32' },
  { rows: 64, tokens: 32, rowsPerThread: 8, tokensPerThread: 4, tile: 'f32' },
  { rows: 32, tokens: 64, rowsPerThread: 4, tokensPerThread: 8, tile: 'f32' },
  { rows: 64, tokens: 32, rowsPerThread: 4, tokensPerThread: 4, tile: 'f16' },
  { rows: 64, tokens: 64, rowsPerThread: 4, tokensPerThread: 4, tile: 'f16' },
  { rows: 64, tokens: 64, rowsPerThread: 8, tokensPerThread: 8, tile: 'f16' },
  { rows: 128, tokens: 32, rowsPerThread: 8, tokensPerThread: 4, tile: 'f16' },
  { rows: 128, tokens: 64, rowsPerThread: 8, tokensPerThread: 8, tile: 'f16' },
];

/**
 * The register-tiled GEMM's module for one weight format and shape: the constants of
 * shaders/matmul_reg.wgsl (plain `const`: its register arrays need constant sizes) and `params`
 * (the MatmulKernel uniform struct, generated from its UniformLayout) before the driver.
 */
export function matmulRegSource(format: WeightFormat, s: RegTileShape, paramsStruct: string): string {
  const bad = badShape(s);
  if (bad) throw new Error(`matmul (register-tiled): ${bad}`);
  const consts = [
    `// register-tiled GEMM shape (src/kernels/matmul-reg.ts)`,
    `const TR: u32 = ${s.rows}u;`,
    `const TM: u32 = ${s.tokens}u;`,
    `const RR: u32 = ${s.rowsPerThread}u;`,
    `const RT: u32 = ${s.tokensPerThread}u;`,
    `alias tile_t = ${s.tile};`,
  ].join('\n');
  const code = weightShader(format, `${paramsStruct}\n${linearBindings}\n${consts}\n\n${driver}`);
  return s.tile === 'f16' ? `enable f16;\n\n${code}` : code;
}
