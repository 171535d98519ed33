/**
 * The kernel plan: which kernel variant, in which shape, runs each role of the forward pass. Two
 * sources: the hand-tuned table of src/kernels/tuning.ts (tablePlan), and the autotuner
 * (src/engine/tune.ts), which times candidates on the user's own adapter at the loaded model's
 * shapes and keeps the fastest that agree with the reference.
 *
 *   decode GEMVs   qkv (attn-norm + QKV), wo, gateUp (ffn-norm + gate/up + SwiGLU), down, lmHead
 *   prefill GEMMs  gemmQkv, gemmWo, gemmUp, gemmDown
 *   attention      attnDecode (split-K pass with RoPE + KV append), attnPrefill (tiled, flash-style)
 *
 * A plan is plain JSON: it is stored in IndexedDB per adapter and model shape, and printed in the
 * benchmark report.
 */
import { decodeTuning, type GemvShape } from '../kernels/tuning.ts';
import type { BcastShape } from '../kernels/matmul-bcast.ts';
import type { RegTileShape } from '../kernels/matmul-reg.ts';
import type { DecodeVariant, PrefillVariant } from '../kernels/attention.ts';
import type { AdapterSummary } from '../gpu/device.ts';
import type { ModelConfig } from '../model/config.ts';
import { ggmlTypeName, type GGUFFile } from '../model/gguf-types.ts';

export const GEMV_ROLES = ['qkv', 'wo', 'gateUp', 'down', 'lmHead'] as const;
export const GEMM_ROLES = ['gemmQkv', 'gemmWo', 'gemmUp', 'gemmDown'] as const;
export type GemvRole = (typeof GEMV_ROLES)[number];
export type GemmRole = (typeof GEMM_ROLES)[number];
export type AttentionRole = 'attnDecode' | 'attnPrefill';
export type KernelRole = GemvRole | GemmRole | AttentionRole;
/** Every role, in the order the tuner visits them (and the load screen counts them). */
export const KERNEL_ROLES: readonly KernelRole[] = [...GEMV_ROLES, 'attnDecode', ...GEMM_ROLES, 'attnPrefill'];

/** A decode GEMV: the shared GEMV kernel (src/kernels/gemv.ts) in one shape. */
export interface GemvChoice extends GemvShape {
  /** Lanes that share one row (row groups); absent: every thread of the workgroup works on every row. */
  lanesPerRow?: number;
  /** Dequantize to f16 and multiply in f16 (needs shader-f16). */
  f16?: boolean;
  /**
   * Split-K: this many workgroups per block of rows, each adding its run's sums to the output
   * atomically (wo and down only: they add to the residual; the graph then has no hand-off to the
   * next norm). Absent or 1: off.
   */
  splitK?: number;
  /** Narrow the workgroup for short rows (src/kernels/tuning.ts fitShape), as the table's shapes are. */
  fit?: boolean;
  /**
   * wo only: the GEMV merges the split-K attention partials itself while loading its input
   * (src/kernels/matvec.ts attentionMerge), so decode attention's merge pass is not dispatched.
   */
  mergeAttention?: boolean;
}

/** A prefill GEMM (src/kernels/matmul.ts MatmulOptions); {} is the tiled default. */
export interface GemmChoice {
  rowsPerWorkgroup?: number;
  tokensPerWorkgroup?: number;
  bcast?: BcastShape;
  /** The register-tiled GEMM (src/kernels/matmul-reg.ts) in this shape. */
  regTile?: RegTileShape;
}

/** The decode attention pass (src/kernels/attention.ts AttentionOptions). */
export interface AttnDecodeChoice {
  chunk?: number;
  decodeWorkgroupSize?: number;
  /** 'keys': one lane per key; 'lanes': lanes along the head dimension. */
  decodeVariant?: DecodeVariant;
  /** 'lanes': lanes sharing one key row. */
  lanesPerKey?: number;
  /** 'lanes': subgroup reductions (default: whether the device has them). */
  subgroups?: boolean;
}

/** The prefill attention pass (src/kernels/attention.ts AttentionOptions). */
export interface AttnPrefillChoice {
  /** 'tiled' (f32), or 'rows-f16' (one thread per query row, f16 tiles; needs shader-f16). */
  prefillVariant?: PrefillVariant;
  tileQ?: number;
  tileK?: number;
  threadsPerRow?: number;
}

export interface KernelPlan {
  /** Where it came from: the hand-tuned table of an adapter class, or the autotuner. */
  source: 'table' | 'tuned';
  gemv: Record<GemvRole, GemvChoice>;
  gemm: Record<GemmRole, GemmChoice>;
  attnDecode: AttnDecodeChoice;
  attnPrefill: AttnPrefillChoice;
  /** fitShape's `balance` for the table's fitted shapes (SwiftShader). */
  balanceChunks: boolean;
}

type AdapterText = Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description' | 'subgroupMinSize' | 'subgroupMaxSize'>;

/** The hand-tuned table's plan for an adapter class (src/kernels/tuning.ts). */
export function tablePlan(adapter: AdapterText, subgroups: boolean): KernelPlan {
  const t = decodeTuning(adapter, subgroups);
  const fit = (s: GemvShape): GemvChoice => ({ ...s, fit: true });
  const gemm: GemmChoice = t.matmul ? { bcast: t.matmul } : {};
  return {
    source: 'table',
    gemv: { qkv: fit(t.normMatvec), wo: fit(t.matvec), gateUp: fit(t.swigluMatvec), down: fit(t.matvec), lmHead: fit(t.normMatvec) },
    gemm: { gemmQkv: { ...gemm }, gemmWo: { ...gemm }, gemmUp: { ...gemm }, gemmDown: { ...gemm } },
    attnDecode: {},
    attnPrefill: {},
    balanceChunks: t.balanceChunks,
  };
}

/** The plan with one role's choice replaced. */
export function withChoice(plan: KernelPlan, role: KernelRole, choice: object): KernelPlan {
  const next: KernelPlan = { ...plan, gemv: { ...plan.gemv }, gemm: { ...plan.gemm } };
  if ((GEMV_ROLES as readonly string[]).includes(role)) next.gemv[role as GemvRole] = choice as GemvChoice;
  else if ((GEMM_ROLES as readonly string[]).includes(role)) next.gemm[role as GemmRole] = choice as GemmChoice;
  else if (role === 'attnDecode') next.attnDecode = choice as AttnDecodeChoice;
  else next.attnPrefill = choice as AttnPrefillChoice;
  return next;
}

/** A role's choice in a plan. */
export function choiceOf(plan: KernelPlan, role: KernelRole): object {
  if ((GEMV_ROLES as readonly string[]).includes(role)) return plan.gemv[role as GemvRole];
  if ((GEMM_ROLES as readonly string[]).includes(role)) return plan.gemm[role as GemmRole];
  return role === 'attnDecode' ? plan.attnDecode : plan.attnPrefill;
}

/** A choice in a few words, for reports: `wg=64 rows=16 sg` and the like; `default` for {}. */
export function describeChoice(choice: object): string {
  const parts: string[] = [];
  for (const [key, v] of Object.entries(choice)) {
    if (v === undefined || key === 'fit') continue;
    if (typeof v === 'object' && v !== null) parts.push(`${key}(${describeChoice(v)})`);
    else if (typeof v === 'boolean') {
      if (v) parts.push(key);
    } else parts.push(`${key}=${v}`);
  }
  return parts.length ? parts.join(' ') : 'default';
}


/**
 * Version of the kernels a stored plan was tuned against: bump it whenever a kernel variant, a
 * candidate list or what a choice means changes, so stored plans are tuned again.
 */
export const KERNELS_VERSION = 2;

/**
 * The key a tuned plan is stored under: the adapter as the browser describes it, the kernels'
 * version, and what the choices depend on in the model (its shapes and each role's weight format).
 */
export function tuningKey(adapter: AdapterText, cfg: ModelConfig, file: Pick<GGUFFile, 'tensors'>): string {
  const a = [adapter.vendor, adapter.architecture, adapter.device, adapter.description].join('/');
  const { dim, ffnDim, nHeads, nKvHeads, headDim, vocabSize } = cfg;
  // the formats of the tensors the tuner times: layer 0's and the output head's (token_embd's when tied)
  const head = cfg.tiedOutput ? 'token_embd.weight' : 'output.weight';
  const formats = file.tensors
    .filter((t) => t.dims.length === 2 && (t.name.startsWith('blk.0.') || t.name === head))
    .map((t) => `${t.name.replace(/^blk\.0\./, '').replace(/\.weight$/, '')}:${ggmlTypeName(t.type)}`)
    .sort()
    .join(',');
  return `v${KERNELS_VERSION}|${a}|${dim}x${ffnDim} h${nHeads}/${nKvHeads}x${headDim} v${vocabSize}|${formats}`;
}
