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

/** Values per q8_0 block. */
export const Q8_0_BLOCK = 32;

/** What the cache's size depends on: every layer holds K and V of nKvHeads x headDim values per position. */
export interface KvShape {
  nLayers: number;
  nKvHeads: number;
  headDim: number;
}

/**
 * Bytes of one cache row (one KV head at one position) as the GPU holds it (src/kernels/kv-layout.ts):
 * f16, 2 bytes a value; q8_0, the int8 quants then the row's f16 block scales in pairs, padded to
 * a whole 4-byte word (a row never shares a word with the next, so one thread owns each write).
 * That is ggml's 34 bytes a block when the row has an even number of blocks (head size 64, 128),
 * 2 bytes more a row when odd (Phi-3's 96: 104 bytes, not 102).
 */
export function kvRowBytes(headDim: number, kvType: KvType = 'f16'): number {
  if (kvType === 'f16') return headDim * 2;
  const blocks = Math.ceil(headDim / Q8_0_BLOCK);
  return headDim + 4 * Math.ceil(blocks / 2);
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
  return cfg.nKvHeads * kvRowBytes(cfg.headDim, kvType) * positions;
}

/** KV cache bytes per context position, over every layer's K and V (Phi-3-mini: 393,216 in f16, 212,992 in q8_0). */
export function kvBytesPerToken(cfg: KvShape, kvType: KvType = 'f16'): number {
  return cfg.nLayers * 2 * kvLayerBytes(cfg, 1, kvType);
}
