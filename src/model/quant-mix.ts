/**
 * llama.cpp's per-tensor type choices for LLAMA_FTYPE_MOSTLY_Q4_K_M (llama-quant.cpp), shared by
 * the test-model generator and the Phi-3-small converter.
 */
import { GGMLType } from './gguf-types.ts';

/** llama.cpp's use_more_bits(i, n): the first and last eighth of the layers and every third between. */
export function moreBitsLayer(i: number, n: number): boolean {
  const e = Math.trunc(n / 8);
  return i < e || i >= Math.trunc((7 * n) / 8) || (i - e) % 3 === 2;
}

/**
 * The Q4_K_M type of a 2-D weight named as in GGUF: output.weight Q6_K (a tied token_embd counts
 * as the output: pass "output.weight" for it), a fused attn_qkv Q5_K, ffn_down Q6_K on the
 * more-bits layers, everything else Q4_K.
 */
export function q4KMType(name: string, layer: number, nLayers: number): GGMLType {
  if (name === 'output.weight') return GGMLType.Q6_K;
  if (name.endsWith('attn_qkv.weight')) return GGMLType.Q5_K;
  if (name.endsWith('ffn_down.weight')) return moreBitsLayer(layer, nLayers) ? GGMLType.Q6_K : GGMLType.Q4_K;
  return GGMLType.Q4_K;
}
