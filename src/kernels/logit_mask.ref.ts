import { MASKED_LOGIT } from './logit_mask.ts';

/** CPU reference for the logit mask: a copy of logits with logits[id] = MASKED_LOGIT (as f32) for each id. */
export function logitMaskRef(logits: ArrayLike<number>, ids: readonly number[]): Float32Array {
  const out = Float32Array.from(logits);
  for (const id of ids) out[id] = MASKED_LOGIT;
  return out;
}
