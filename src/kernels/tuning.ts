/**
 * Kernel shapes per adapter class, one row per class in TUNING, each naming the benchmark that
 * justifies it; why CPU drivers want shapes of their own (and the numbers): scripts/lavapipe-probe.md.
 *
 * What must hold:
 *   - workgroupSize is a power of two within the device limit (the reductions halve it);
 *   - rowsPerWorkgroup is 1..32 (the GEMV kernels' MAX_ROWS) and <= workgroupSize: thread r
 *     writes row r (fitShape keeps it so when it narrows a workgroup, never below 8 threads);
 *   - swigluMatvec's rowsPerWorkgroup counts output rows; the kernel reads twice as many weight rows;
 *   - subgroups only where the device has the feature (decodeTuning's `subgroups`);
 *   - the broadcast prefill GEMM's workgroup is one subgroup: it runs only where the adapter reports
 *     one fixed subgroup size equal to its lanes, else the tiled GEMM does.
 */
import type { AdapterSummary } from '../gpu/device.ts';
import type { BcastShape } from './matmul-bcast.ts';

export type CpuDriver = 'lavapipe' | 'swiftshader';

type AdapterText = Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description' | 'subgroupMinSize' | 'subgroupMaxSize'>;

/** Which CPU Vulkan driver this adapter is, if any. */
export function cpuDriver(adapter: AdapterText): CpuDriver | null {
  const text = `${adapter.description} ${adapter.device} ${adapter.vendor} ${adapter.architecture}`.toLowerCase();
  if (text.includes('llvmpipe') || text.includes('lavapipe')) return 'lavapipe';
  if (text.includes('swiftshader')) return 'swiftshader';
  return null;
}

export interface GemvShape {
  /** Threads per workgroup (a power of two). */
  workgroupSize: number;
  /** Output rows per workgroup. */
  rowsPerWorkgroup: number;
  /** Reduce with subgroupAdd (only where the device has the feature). */
  subgroups: boolean;
}

export interface DecodeTuning {
  matvec: GemvShape;
  normMatvec: GemvShape;
  /** rowsPerWorkgroup = output rows; the kernel reads twice as many weight rows. */
  swigluMatvec: GemvShape;
  /** fitShape's `balance`: a narrower workgroup rather than idle threads (SwiftShader). */
  balanceChunks: boolean;
  /** Prefill GEMM: the broadcast kernel in this shape (CPU drivers), or null for the tiled one. */
  matmul: BcastShape | null;
}

/** Per kernel [workgroupSize, rowsPerWorkgroup]. */
type Shape = [number, number];

interface TuningRow {
  matvec: Shape;
  normMatvec: Shape;
  swigluMatvec: Shape;
  balanceChunks: boolean;
  /** The broadcast prefill GEMM, where the adapter's one subgroup size is bcast.subgroupSize. */
  bcast: BcastShape | null;
}

// Emulator-only: the lavapipe and SwiftShader rows, their broadcast prefill GEMM included, serve the CPU drivers that run the tests, the CLI and the benchmarks.
const TUNING: Record<CpuDriver | 'gpu', TuningRow> = {
  // npm run bench:kernels; npm run bench:kernels -- --prefill 64
  lavapipe: { matvec: [32, 32], normMatvec: [32, 32], swigluMatvec: [32, 16], balanceChunks: false, bcast: { subgroupSize: 8, rowsPerLane: 4, tokens: 8 } },
  // WEBGPU_ICD=swiftshader npm run bench:kernels (and -- --prefill 64)
  swiftshader: { matvec: [16, 16], normMatvec: [16, 16], swigluMatvec: [16, 16], balanceChunks: true, bcast: { subgroupSize: 4, rowsPerLane: 4, tokens: 8 } },
  // the defaults, for coalesced loads; not yet measured on a real GPU
  gpu: { matvec: [64, 16], normMatvec: [64, 16], swigluMatvec: [64, 8], balanceChunks: false, bcast: null },
};

/** [workgroupSize, rowsPerWorkgroup] of each decode GEMV in every row of the table (the autotuner's seeds). */
export function tableGemvShapes(): { matvec: [number, number]; normMatvec: [number, number]; swigluMatvec: [number, number] }[] {
  return Object.values(TUNING).map(({ matvec, normMatvec, swigluMatvec }) => ({ matvec, normMatvec, swigluMatvec }));
}

/** Kernel shapes for an adapter; `subgroups`: whether the device has the feature. */
export function decodeTuning(adapter: AdapterText, subgroups: boolean): DecodeTuning {
  const row = TUNING[cpuDriver(adapter) ?? 'gpu'];
  const gemv = ([workgroupSize, rowsPerWorkgroup]: Shape): GemvShape => ({ workgroupSize, rowsPerWorkgroup, subgroups });
  const fixedSubgroup = subgroups && adapter.subgroupMinSize !== undefined && adapter.subgroupMinSize === adapter.subgroupMaxSize ? adapter.subgroupMinSize : 0;
  return {
    matvec: gemv(row.matvec),
    normMatvec: gemv(row.normMatvec),
    swigluMatvec: gemv(row.swigluMatvec),
    balanceChunks: row.balanceChunks,
    matmul: row.bcast && row.bcast.subgroupSize === fixedSubgroup ? { ...row.bcast } : null,
  };
}

/**
 * The shape for rows of `chunksPerRow` chunks (k / the format's CHUNK): no wider than the next
 * power of two of that, at least 8 threads. A thread strides over a row's chunks, so threads past
 * the last chunk only idle; on a CPU driver an idle SIMD batch still runs the whole loop masked
 * (the tiny and small test models' lm_head, k = 256..1024, used 4 to 16 of 32 threads). With
 * `balance` (SwiftShader: DecodeTuning.balanceChunks) also narrower when that leaves fewer threads
 * idle in the last pass over a row. Rows per workgroup are capped at the thread count (thread r
 * writes row r).
 */
export function fitShape(shape: GemvShape, chunksPerRow: number, balance = false): GemvShape {
  let wg = shape.workgroupSize;
  while (wg > 8 && wg / 2 >= chunksPerRow) wg /= 2;
  if (balance) {
    // the narrowest of the widths that leave the fewest idle thread-iterations (48 chunks:
    // 16 threads x 3, not 32 threads doing 2 and 1)
    const idle = (n: number) => Math.ceil(chunksPerRow / n) * n - chunksPerRow;
    for (let n = wg / 2; n >= 8; n /= 2) if (idle(n) < idle(wg)) wg = n;
  }
  // thread r writes row r: at most as many rows as threads
  return wg === shape.workgroupSize ? shape : { ...shape, workgroupSize: wg, rowsPerWorkgroup: Math.min(shape.rowsPerWorkgroup, wg) };
}

/** The adapter description the device was made from, where the device exposes it (`device.adapterInfo`). */
export function deviceAdapterText(device: GPUDevice): AdapterText {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const sizes = info as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    subgroupMinSize: typeof sizes?.subgroupMinSize === 'number' ? sizes.subgroupMinSize : undefined,
    subgroupMaxSize: typeof sizes?.subgroupMaxSize === 'number' ? sizes.subgroupMaxSize : undefined,
  };
}
