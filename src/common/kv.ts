/**
 * The KV cache's size from a model's shape, for every room: the engine sizes its buffers with it
 * (through src/model/config.ts), the UI estimates GPU memory with it before any byte is downloaded.
 */

/**
 * How the KV cache stores K and V: `f16`, or ggml's `q8_0` blocks (32 values share an f16 scale:
 * 2 + 32 bytes per block, 8.5 bits a value), as llama.cpp's `-ctk q8_0 -ctv q8_0`.
 */
export type KvType = 'f16' | 'q8_0';
export const KV_TYPES: readonly KvType[] = ['f16', 'q8_0'];

/** Values per q8_0 block and the block's bytes (f16 scale + 32 int8). */
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 34;

/** What the cache's size depends on: every layer holds K and V of nKvHeads x headDim values per position. */
export interface KvShape {
  nLayers: number;
  nKvHeads: number;
  headDim: number;
}

/** Bytes that `values` K or V values take in the cache (q8_0: whole blocks; a row's length is a multiple of 32). */
export function kvValueBytes(values: number, kvType: KvType = 'f16'): number {
  return kvType === 'f16' ? values * 2 : Math.ceil(values / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
}

/** Why a model cannot hold its cache as `kvType`, or undefined: q8_0 blocks must not straddle heads. */
export function kvTypeProblem(cfg: Pick<KvShape, 'headDim'>, kvType: KvType): string | undefined {
  if (kvType === 'q8_0' && cfg.headDim % Q8_0_BLOCK !== 0) {
    return `a q8_0 KV cache needs a head size that is a multiple of ${Q8_0_BLOCK}; this model's is ${cfg.headDim}`;
  }
  return undefined;
}

/** Bytes of one layer's K cache (or V cache) for `positions` positions: nKvHeads x headDim values each. */
export function kvLayerBytes(cfg: Pick<KvShape, 'nKvHeads' | 'headDim'>, positions: number, kvType: KvType = 'f16'): number {
  return kvValueBytes(cfg.nKvHeads * cfg.headDim, kvType) * positions;
}

/** KV cache bytes per context position, over every layer's K and V (Phi-3-mini: 393,216 in f16, 208,896 in q8_0). */
export function kvBytesPerToken(cfg: KvShape, kvType: KvType = 'f16'): number {
  return cfg.nLayers * 2 * kvLayerBytes(cfg, 1, kvType);
}
