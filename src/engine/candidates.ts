/**
 * What the autotuner (src/engine/tune.ts) tries for each role, besides the plan it starts from:
 * the shapes and variants of each kernel family that can run on this device at this role's weight
 * format and shape. The lists are short on purpose (each candidate costs a pipeline compile and a
 * few timed runs); they span the hand-tuned tables' shapes, so the tuner can rediscover them on
 * the emulators, and the shapes written for real GPUs (src/kernels/DESIGN.md).
 */
import type { KvType, ModelConfig } from '../model/config.ts';
import type { ModelWeights, Linear } from './weights.ts';
import { hasF16Decoder } from '../kernels/weight-formats.ts';
import { gemvVariantValid } from '../kernels/gemv.ts';
import { deviceAdapterText, tableGemvShapes } from '../kernels/tuning.ts';
import { attentionOptionsProblem, decodeChunkOf } from '../kernels/attention.ts';
import { matvecVariantValid } from '../kernels/matvec.ts';
import { REG_TILE_CANDIDATES, regTileUnsupported, type RegTileShape } from '../kernels/matmul-reg.ts';

const REG_F32: RegTileShape = { rows: 64, tokens: 32, rowsPerThread: 4, tokensPerThread: 4, tile: 'f32' };
const REG_F16: RegTileShape = { rows: 64, tokens: 64, rowsPerThread: 8, tokensPerThread: 8, tile: 'f16' };
import { tablePlan, type AttnDecodeChoice, type AttnPrefillChoice, type GemmChoice, type GemvChoice, type KernelRole } from './plan.ts';

export interface CandidateContext {
  device: GPUDevice;
  cfg: ModelConfig;
  weights: ModelWeights;
  role: KernelRole;
  /** The role's choice in the plan the tuner starts from (tried first, as the reference). */
  base: object;
  /**
   * 'full': every variant and shape the device can run; 'seeded': the hand-tuned tables' shapes
   * and their neighbours, in the default variants only (the CPU emulators, where each of the
   * real-GPU variants' pipelines takes seconds to compile and none of them wins).
   */
  search: 'full' | 'seeded';
  /** The load's KV cache type (default 'f16'): attention candidates must read and write it. */
  kvType?: KvType;
}

/** The weight a role reads (layer 0's; the output head's for lmHead), or none for attention. */
export function roleWeight(role: KernelRole, weights: ModelWeights): Linear | undefined {
  const w = weights.layers[0];
  switch (role) {
    case 'qkv':
    case 'gemmQkv':
      return w.qkv;
    case 'wo':
    case 'gemmWo':
      return w.wo;
    case 'gateUp':
    case 'gemmUp':
      return w.up;
    case 'down':
    case 'gemmDown':
      return w.down;
    case 'lmHead':
      return weights.output;
    default:
      return undefined;
  }
}

/** [threads, rows per workgroup]: the CPU tables' shapes and the real-GPU defaults, all threads on every row. */
const GEMV_SHAPES: [number, number][] = [
  [16, 16],
  [32, 16],
  [32, 32],
  [64, 8],
  [64, 16],
  [128, 8],
  [256, 8],
];

/** f16 math in the shapes meant for real GPUs (each f16 pipeline costs a compile; the list stays short). */
const GEMV_F16_SHAPES: [number, number][] = [
  [64, 16],
  [128, 8],
];

/**
 * Row groups (lanesPerRow): [threads, rows per workgroup, lanes per row], for GPUs with 32-wide
 * subgroups (one subgroup per row, a few rows per workgroup, many workgroups), tried with subgroup
 * reductions where the adapter's subgroups are at least that wide and with the workgroup-memory
 * tree everywhere; plus groups one subgroup of the adapter's narrowest size wide.
 */
const GEMV_GROUP_SHAPES: [number, number, number][] = [
  [128, 4, 32],
  [128, 8, 32],
  [256, 8, 32],
  [64, 2, 32],
];

/**
 * Split-K (splitK), for the residual projections only (wo, down: they add to the residual stream):
 * [threads, rows per workgroup, lanes per row (0: the whole workgroup), workgroups per row block].
 * At Phi-3's shapes in 64-element chunks (Q4_K, Q5_K, Q6_K) down's rows have 128 chunks and Wo's
 * 48. 64 x 16 in 2 runs and 32 x 16 in 4 give down one chunk per thread, with 384 and 768
 * workgroups. Row groups of 2 rows: 32 lanes in 2 runs and 16 lanes in 4 give down 2 chunks a
 * lane with 768 workgroups; 8 lanes in 2 runs split Wo's 24-chunk runs evenly, 3 chunks a lane
 * (every other shape leaves some of Wo's lanes idle), with 384.
 */
const GEMV_SPLIT_SHAPES: [number, number, number, number][] = [
  [64, 16, 0, 2],
  [32, 16, 0, 4],
  [128, 8, 32, 2],
  [128, 16, 16, 4],
  [64, 16, 8, 2],
];

/** Which GEMV kernel serves a decode role (gemvVariantValid's name for it). */
function gemvKind(role: KernelRole, ctx: CandidateContext): { kind: 'matvec' | 'normMatvec' | 'swigluMatvec'; normOut?: boolean } {
  if (role === 'qkv' || role === 'lmHead') return { kind: 'normMatvec' };
  if (role === 'gateUp') return ctx.weights.layers[0].up.parts.length === 1 ? { kind: 'swigluMatvec' } : { kind: 'matvec' };
  return { kind: 'matvec', normOut: true };
}

/** The tables' shapes for this role's kernel, fitted to short rows as the table's are, and each with rows halved and doubled. */
function seededGemv(ctx: CandidateContext, kind: 'matvec' | 'normMatvec' | 'swigluMatvec', subgroups: boolean): GemvChoice[] {
  const out: GemvChoice[] = [];
  for (const row of tableGemvShapes()) {
    const [workgroupSize, rows] = row[kind];
    for (const rowsPerWorkgroup of [rows, rows / 2, rows * 2]) out.push({ workgroupSize, rowsPerWorkgroup, subgroups, fit: true });
  }
  return out;
}

function gemvCandidates(ctx: CandidateContext): GemvChoice[] {
  const { device } = ctx;
  const subgroups = device.features.has('subgroups');
  const { kind, normOut } = gemvKind(ctx.role, ctx);
  // a split-K choice is built without the hand-off (Kernels.matvec)
  const valid = (g: GemvChoice) => gemvVariantValid(device, kind, { ...g, normOut: normOut && !((g.splitK ?? 1) > 1) }) === null;
  if (ctx.search === 'seeded') return seededGemv(ctx, kind, subgroups).filter(valid);
  const out: GemvChoice[] = [];
  for (const [workgroupSize, rowsPerWorkgroup] of GEMV_SHAPES) {
    if (valid({ workgroupSize, rowsPerWorkgroup, subgroups })) out.push({ workgroupSize, rowsPerWorkgroup, subgroups });
  }
  const groups: GemvChoice[] = [];
  for (const [workgroupSize, rowsPerWorkgroup, lanesPerRow] of GEMV_GROUP_SHAPES) {
    if (subgroups) groups.push({ workgroupSize, rowsPerWorkgroup, lanesPerRow, subgroups: true });
    groups.push({ workgroupSize, rowsPerWorkgroup, lanesPerRow, subgroups: false });
  }
  const narrow = subgroupMin(device);
  if (subgroups && narrow && narrow < 32) groups.push({ workgroupSize: 8 * narrow, rowsPerWorkgroup: 8, lanesPerRow: narrow, subgroups: true });
  for (const g of groups) if (valid(g)) out.push(g);
  if (ctx.role === 'wo' || ctx.role === 'down') {
    for (const [workgroupSize, rowsPerWorkgroup, lanes, splitK] of GEMV_SPLIT_SHAPES) {
      const shape: GemvChoice = { workgroupSize, rowsPerWorkgroup, splitK, subgroups: false, ...(lanes ? { lanesPerRow: lanes } : {}) };
      for (const g of subgroups ? [{ ...shape, subgroups: true }, shape] : [shape]) if (valid(g)) out.push(g);
    }
  }
  const w = roleWeight(ctx.role, ctx.weights);
  if (device.features.has('shader-f16') && w && hasF16Decoder(w.format)) {
    for (const [workgroupSize, rowsPerWorkgroup] of GEMV_F16_SHAPES) {
      const g: GemvChoice = { workgroupSize, rowsPerWorkgroup, subgroups, f16: true };
      if (valid(g)) out.push(g);
    }
  }
  return out;
}

/**
 * Wo shapes that merge the attention partials themselves (GemvChoice.mergeAttention), besides the
 * base choice with the merge. Each workgroup repeats the merge, so fewer, larger workgroups repeat
 * it less: 32 rows (96 workgroups for Phi-3-mini), in both forms; and 8 rows x 64 threads, the
 * all-threads shape whose reduction leaves room for the merged vector in 16 KiB.
 */
const WO_MERGE_SHAPES: Omit<GemvChoice, 'subgroups'>[] = [
  { workgroupSize: 64, rowsPerWorkgroup: 8 },
  { workgroupSize: 64, rowsPerWorkgroup: 32 },
  { workgroupSize: 128, rowsPerWorkgroup: 16, lanesPerRow: 32 },
  { workgroupSize: 256, rowsPerWorkgroup: 32, lanesPerRow: 32 },
];

/** Why the Wo GEMV in shape `g` cannot merge this model's attention partials on this device, or null. */
function woMergeProblem(device: GPUDevice, cfg: ModelConfig, g: GemvChoice): string | null {
  const { fit: _fit, mergeAttention: _merge, ...shape } = g;
  // the chunk does not enter the checks
  const attentionMerge = { k: cfg.nHeads * cfg.headDim, headDim: cfg.headDim, chunk: decodeChunkOf({}) };
  return matvecVariantValid(device, { ...shape, normOut: true, attentionMerge });
}

/** The Wo GEMV merging the attention partials (none where the device or the head size cannot). */
function woMergeCandidates(ctx: CandidateContext): GemvChoice[] {
  const { device, cfg } = ctx;
  const subgroups = device.features.has('subgroups');
  if (ctx.weights.layers[0].wo.k !== cfg.nHeads * cfg.headDim) return [];
  const list: GemvChoice[] = [{ ...(ctx.base as GemvChoice), mergeAttention: true }];
  if (ctx.search === 'full') {
    for (const g of WO_MERGE_SHAPES) {
      if (g.lanesPerRow && subgroups) list.push({ ...g, subgroups: true, mergeAttention: true });
      list.push({ ...g, subgroups: g.lanesPerRow ? false : subgroups, mergeAttention: true });
    }
  }
  return list.filter((g) => woMergeProblem(device, cfg, g) === null);
}

function gemmCandidates(ctx: CandidateContext): GemmChoice[] {
  const out: GemmChoice[] = [{}, { rowsPerWorkgroup: 64, tokensPerWorkgroup: 16 }, { rowsPerWorkgroup: 32, tokensPerWorkgroup: 32 }];
  if (ctx.search === 'seeded') return out;
  for (const regTile of REG_TILE_CANDIDATES) if (regTileUnsupported(ctx.device, regTile) === null) out.push({ regTile });
  return out;
}

/** Attention options this device and head size can run (attentionOptionsProblem). */
function runnable<T extends object>(ctx: CandidateContext, list: T[]): T[] {
  return list.filter((o) => attentionOptionsProblem(ctx.device, ctx.cfg.headDim, { ...o, kvType: ctx.kvType }) === null);
}

function attnDecodeCandidates(ctx: CandidateContext): AttnDecodeChoice[] {
  const out: AttnDecodeChoice[] = [];
  // one lane per key: chunks of keys per workgroup, threads
  for (const chunk of [128, 256, 512]) for (const decodeWorkgroupSize of [64, 128]) out.push({ chunk, decodeWorkgroupSize });
  if (ctx.search === 'seeded') return runnable(ctx, out);
  // lanes along the head dimension (vector loads of whole key rows), with and without subgroup reductions
  for (const chunk of [128, 256]) {
    for (const decodeWorkgroupSize of [64, 128]) {
      if (ctx.device.features.has('subgroups')) out.push({ decodeVariant: 'lanes', chunk, decodeWorkgroupSize, subgroups: true });
      out.push({ decodeVariant: 'lanes', chunk, decodeWorkgroupSize, subgroups: false });
    }
  }
  return runnable(ctx, out);
}

function attnPrefillCandidates(ctx: CandidateContext): AttnPrefillChoice[] {
  const tiled: AttnPrefillChoice[] = [
    { tileQ: 16, tileK: 32, threadsPerRow: 8 },
    { tileQ: 8, tileK: 32, threadsPerRow: 8 },
    { tileQ: 16, tileK: 16, threadsPerRow: 4 },
    { tileQ: 32, tileK: 16, threadsPerRow: 4 },
  ];
  if (ctx.search === 'seeded') return runnable(ctx, tiled);
  return runnable(ctx, [...tiled, { prefillVariant: 'rows-f16', tileQ: 64, tileK: 32 }, { prefillVariant: 'rows-f16', tileQ: 32, tileK: 32 }]);
}

/** The adapter's smallest subgroup size, where the device says. */
function subgroupMin(device: GPUDevice): number | undefined {
  return deviceAdapterText(device).subgroupMinSize;
}

/** The candidates of one role on this device (the base choice is added by the tuner). */
export function candidatesFor(role: KernelRole, ctx: CandidateContext): object[] {
  switch (role) {
    case 'wo':
      return [...gemvCandidates(ctx), ...woMergeCandidates(ctx)];
    case 'qkv':
    case 'gateUp':
    case 'down':
    case 'lmHead':
      return gemvCandidates(ctx);
    case 'gemmQkv':
    case 'gemmWo':
    case 'gemmUp':
    case 'gemmDown':
      return gemmCandidates(ctx);
    case 'attnDecode':
      return attnDecodeCandidates(ctx);
    case 'attnPrefill':
      return attnPrefillCandidates(ctx);
  }
}

/**
 * One kernel variant forced on every role it serves: what the whole-model comparisons with
 * llama.cpp run in turn (src/engine/variants.test.ts), so each variant is proven in the model, not
 * only the ones an emulator's tuning picks. `reason` says why it cannot run on this device.
 */
export interface VariantFamily {
  name: string;
  roles: Partial<Record<KernelRole, object>>;
  reason?: string;
}

export function variantFamilies(device: GPUDevice, cfg: ModelConfig): VariantFamily[] {
  const subgroups = device.features.has('subgroups');
  const gemv = (c: GemvChoice) => ({ qkv: c, wo: c, gateUp: c, down: c, lmHead: c });
  const gemm = (c: GemmChoice) => ({ gemmQkv: c, gemmWo: c, gemmUp: c, gemmDown: c });
  const words = cfg.headDim / 2;
  const woMerge: GemvChoice = { ...tablePlan(deviceAdapterText(device), subgroups).gemv.wo, mergeAttention: true };
  return [
    { name: 'GEMV 64 threads x 16 rows, unfitted', roles: gemv({ workgroupSize: 64, rowsPerWorkgroup: 16, subgroups }) },
    { name: 'GEMV 256 threads x 8 rows, workgroup-memory reduction', roles: gemv({ workgroupSize: 256, rowsPerWorkgroup: 8, subgroups: false }) },
    { name: 'GEMV row groups, 128 threads x 8 rows, 32 lanes per row, workgroup-memory tree', roles: gemv({ workgroupSize: 128, rowsPerWorkgroup: 8, lanesPerRow: 32, subgroups: false }) },
    {
      name: 'GEMV row groups one subgroup wide, subgroup reduction',
      roles: gemv({ workgroupSize: 4 * (subgroupMin(device) ?? 4), rowsPerWorkgroup: 8, lanesPerRow: subgroupMin(device) ?? 4, subgroups: true }),
      reason: subgroups && subgroupMin(device) ? undefined : 'no subgroups, or the adapter does not report its subgroup size',
    },
    {
      name: 'GEMV row groups with f16 math, 128 threads x 8 rows, 32 lanes per row',
      roles: gemv({ workgroupSize: 128, rowsPerWorkgroup: 8, lanesPerRow: 32, subgroups: false, f16: true }),
      reason: device.features.has('shader-f16') ? undefined : 'no shader-f16',
    },
    {
      name: 'GEMV f16 math, 64 threads x 16 rows',
      roles: gemv({ workgroupSize: 64, rowsPerWorkgroup: 16, subgroups, f16: true }),
      reason: device.features.has('shader-f16') ? undefined : 'no shader-f16',
    },
    {
      // the residual projections only; Wo in the whole-workgroup form, down in row groups
      name: 'GEMV split-K: Wo 64 threads x 16 rows in 4 runs, down row groups of 32 lanes in 2 runs',
      roles: {
        wo: { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups, splitK: 4 },
        down: { workgroupSize: 128, rowsPerWorkgroup: 8, lanesPerRow: 32, subgroups: false, splitK: 2 },
      },
    },
    { name: 'tiled GEMM 64 rows x 16 tokens', roles: gemm({ rowsPerWorkgroup: 64, tokensPerWorkgroup: 16 }) },
    { name: 'register-tiled GEMM 64 x 32, 4 x 4 per thread, f32 tiles', roles: gemm({ regTile: REG_F32 }) },
    { name: 'register-tiled GEMM 64 x 64, 8 x 8 per thread, f16 tiles', roles: gemm({ regTile: REG_F16 }), reason: regTileUnsupported(device, REG_F16) ?? undefined },
    {
      // 32-key chunks: several partials per head at the test's positions, not one
      name: "Wo GEMV merging the split-K attention partials, in the table's shape, 32-key chunks",
      roles: { wo: woMerge, attnDecode: { chunk: 32 } },
      reason: woMergeProblem(device, cfg, woMerge) ?? attentionOptionsProblem(device, cfg.headDim, { chunk: 32 }) ?? undefined,
    },
    {
      name: 'split-K attention, 128-key chunks, 64 threads',
      roles: { attnDecode: { chunk: 128, decodeWorkgroupSize: Math.max(64, 2 ** Math.ceil(Math.log2(words))) } },
    },
    { name: 'split-K attention, lanes along the head dimension, subgroup reductions', roles: { attnDecode: { decodeVariant: 'lanes', subgroups: true } }, reason: subgroups ? undefined : 'no subgroups' },
    { name: 'split-K attention, lanes along the head dimension, workgroup-memory reductions', roles: { attnDecode: { decodeVariant: 'lanes', subgroups: false } } },
    { name: 'prefill attention 32 x 16 tiles', roles: { attnPrefill: { tileQ: 32, tileK: 16, threadsPerRow: 4 } } },
    {
      name: 'prefill attention, one thread per query row, f16 tiles',
      roles: { attnPrefill: { prefillVariant: 'rows-f16' } },
      reason: device.features.has('shader-f16') ? undefined : 'no shader-f16',
    },
  ];
}
