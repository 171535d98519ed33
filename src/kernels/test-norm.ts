/**
 * Test support for the kernels with a fused RMSNorm (norm_matvec, swiglu_matvec): the extra
 * rounding-error depth the norm adds to matvecDepth (test-weights.ts).
 *
 * The kernels compute s = inverseSqrt(sum x^2 / k + eps) and y = s * sum_k W (x g), the
 * reference y = sum_k W * fl(g * fl(x * s)) (rmsnormRef, then matvecRef in f64). Per term the
 * two differ by the relative error of s plus a few roundings, so the bound is errorBounds() on
 * the reference's normalized x with depth matvecDepth + normDepth:
 *   sum x^2: every term positive, so its relative error is at most its rounding depth: the
 *     square (1), the per-lane chain over the thread's chunks (chunks per thread * CHUNK / 4),
 *     the 4-lane sum (2) and the reduction (as matvecDepth's);
 *   s: half of that (the square root), /k and +eps (1 each, halved too, taken as 1), WGSL's
 *     inverseSqrt (2 ulp);
 *   x * g (1), the reference's two roundings (2), the final s * sum (1).
 *   normDepth = ceil(ssDepth / 2) + 7.
 * At Phi-3 size (k = 3072, Q4_K, 64 threads, tree) that is 15 on top of matvec's 24.
 */
import { formatInfo } from './weight-formats.ts';
import type { GgmlType } from '../model/quant/index.ts';
import { formatOf } from './test-weights.ts';

export function normDepth(type: GgmlType, k: number, workgroupSize: number, subgroups: { min: number; max: number } | null): number {
  const chunk = formatInfo(formatOf(type)).chunk;
  const perThread = Math.ceil(k / chunk / workgroupSize);
  const reduce = subgroups ? subgroups.max - 1 + Math.ceil(workgroupSize / subgroups.min) : Math.log2(workgroupSize);
  const ssDepth = 1 + perThread * (chunk / 4) + 2 + reduce;
  return Math.ceil(ssDepth / 2) + 7;
}

/**
 * normDepth for the PRESCALED kernels, whose sum of squares arrives as partial sums written by a
 * normOut matvec (matvec_store_norm.wgsl): the square (1), the writer's chain over its
 * `producerRows` rows, the reader's per-lane chain over its share of the ceil(parts / 4) vec4s,
 * the 4-lane sum (2) and the reduction; then as normDepth (x * g is rounded once, by the writer).
 */
export function prescaledNormDepth(producerRows: number, parts: number, workgroupSize: number, subgroups: { min: number; max: number } | null): number {
  const reduce = subgroups ? subgroups.max - 1 + Math.ceil(workgroupSize / subgroups.min) : Math.log2(workgroupSize);
  const ssDepth = 1 + producerRows + Math.ceil(Math.ceil(parts / 4) / workgroupSize) + 2 + reduce;
  return Math.ceil(ssDepth / 2) + 7;
}
