/**
 * Per-adapter shape of the decode GEMV kernels (matvec, norm_matvec, swiglu_matvec), measured
 * with `npm run bench:kernels` (scripts/bench-kernels.ts) at Phi-3-mini's shapes.
 *
 * CPU Vulkan drivers run a workgroup as SIMD lanes of one CPU thread (8 f32 lanes on lavapipe
 * with AVX2, subgroup size 8; 4 on SwiftShader). There, loads whose address differs per lane
 * are gathers, so the cost that matters is gathers per weight byte, and a workgroup's barrier
 * and reduction cost more per thread the more SIMD batches it has. Measured (CPU time per byte
 * relative to a pure streaming read, 2 shared cores; see the report of issue 8):
 *   lavapipe: 32 threads x 16 rows beat 64 x 16 by ~15-30% on every shape; subgroupAdd beat the
 *     workgroup-memory tree by ~25%. Session 4 (after the chunks of 64 and the norm hand-off):
 *     32 threads x 32 rows beat the balanced 16 x 16 by 15-30% on every plain GEMV at Phi-3-mini's
 *     shapes (CPU-time ratio to the streaming read 0.35-0.46 -> 0.40-0.55), prescaled norm+QKV
 *     0.32 -> 0.37, and the prescaled gate/up+SwiGLU with 16 output rows (32 weight rows) 0.25 ->
 *     0.38: more rows per loaded x chunk outweigh the idle threads of an unbalanced last pass, so
 *     lavapipe no longer narrows workgroups for balance (balanceChunks).
 *     SwiftShader: 32 x 32 no better than 16 x 16 (noisy, mixed), but gate/up+SwiGLU with 16
 *     output rows instead of 8: 0.22 -> 0.32.
 *   SwiftShader: 16 threads x 16 rows best (64 threads: 0.6x its speed, 128: 0.3x).
 *   On both, the variants that avoid the rows-per-workgroup array (unrolled vec4 accumulators,
 *   one row per thread, 8 threads splitting each block with uniform weight loads) were 2-4x
 *   SLOWER than this tiled kernel, and the fused RMSNorm kernels cost 1.4-1.5x a plain GEMV (the
 *   g loads and sums of squares in every workgroup), until they read a hand-off (below).
 * Real GPUs keep the defaults (64 threads, 16 rows, subgroups where available): coalesced loads.
 *
 * Why CPU drivers stay far from the streaming read (session 3, scripts/lavapipe-probe.ts and the
 * IR lavapipe dumps with GALLIVM_DEBUG=ir): Mesa 25.0's lavapipe loads a storage or workgroup value
 * with one scalar load only when its address is a compile-time constant; any other address (a loop
 * counter, a workgroup id) becomes a loop over the 8 lanes with a bounds-check branch per 32-bit
 * word, ~9 instructions per word per lane. The streaming read pays exactly that, so a GEMV's ratio
 * is that cost over that cost plus everything else: reading and nibble-decoding Q4_K rows alone
 * reach ~0.74 of the streaming read, adding the block scales and one multiply per weight (x free)
 * ~0.55, and every way of getting x to the lanes costs more on top (a lane's own loads: this
 * tiled kernel ~0.34; subgroup broadcasts ~0.23; a uniform buffer read by all lanes ~0.15). Fully
 * unrolled kernels with constant addresses make 300 KB of code per pipeline and lose more to the
 * instruction cache than they save. So the per-adapter work here is about loading less: chunks
 * of 64 (the block head once per 64 weights), more rows per workgroup (32 on lavapipe), no idle
 * threads where that pays (SwiftShader: balanceChunks), and the fused norm kernels reading x*g
 * and partial sums of squares handed over by the residual GEMV before them (matvec_store_norm.wgsl)
 * instead of loading g and squaring x in every workgroup.
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

/**
 * Kernel shapes for an adapter; `subgroups`: whether the device has the feature.
 *
 * Prefill on CPU drivers (src/kernels/matmul-bcast.ts; `npm run bench:kernels -- --prefill`, 64
 * tokens at Phi-3-mini's shapes): lavapipe 6.1-7.4 GMAC/s with 8 lanes x 4 rows x 8 tokens against
 * 3.0-3.1 for the tiled GEMM (2.0-2.4x; 6 rows per lane about as fast with twice the JIT time,
 * 16 tokens 11 s of JIT per pipeline against ~3.5 s); SwiftShader (Node + Dawn, Q4_K 1024 x 3072)
 * 1.37 GMAC/s with 4 lanes x 4 rows x 8 tokens against 0.58. It needs the workgroup to be one
 * subgroup of a known fixed size, so only where the adapter reports one.
 */
export function decodeTuning(adapter: AdapterText, subgroups: boolean): DecodeTuning {
  const shape = (workgroupSize: number, rowsPerWorkgroup: number): GemvShape => ({ workgroupSize, rowsPerWorkgroup, subgroups });
  const fixedSubgroup = subgroups && adapter.subgroupMinSize !== undefined && adapter.subgroupMinSize === adapter.subgroupMaxSize ? adapter.subgroupMinSize : 0;
  const bcast = (lanes: number): BcastShape | null => (fixedSubgroup === lanes ? { subgroupSize: lanes, rowsPerLane: 4, tokens: 8 } : null);
  switch (cpuDriver(adapter)) {
    case 'lavapipe':
      return { matvec: shape(32, 32), normMatvec: shape(32, 32), swigluMatvec: shape(32, 16), balanceChunks: false, matmul: bcast(8) };
    case 'swiftshader':
      return { matvec: shape(16, 16), normMatvec: shape(16, 16), swigluMatvec: shape(16, 16), balanceChunks: true, matmul: bcast(4) };
    default:
      return { matvec: shape(64, 16), normMatvec: shape(64, 16), swigluMatvec: shape(64, 8), balanceChunks: false, matmul: null };
  }
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
