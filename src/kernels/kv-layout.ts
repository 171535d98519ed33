/**
 * The GPU layout of a layer's KV cache, per type (src/kernels/kv-cache.ref.ts describes both and
 * packs them on the CPU): rows [kvHead][pos] of u32 words.
 *   f16    headDim / 2 words: f16 pairs
 *   q8_0   headDim / 4 words of int8 quants, then ceil(headDim / 64) words of f16 block scales
 * The same union as src/model/config.ts KvType (kernels/ does not import model/).
 */
import { kvRowBytes } from '../common/kv.ts';

export type KvCacheType = 'f16' | 'q8_0';

/** Values per q8_0 block. */
export const Q8_BLOCK = 32;

/** u32 words of one cache row (one kv head at one position): src/common/kv.ts kvRowBytes, the sizes' one source. */
export function kvRowWords(headDim: number, kvType: KvCacheType): number {
  return kvRowBytes(headDim, kvType) / 4;
}
