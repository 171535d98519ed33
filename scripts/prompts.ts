/** Fixed prompts for model comparisons: real English text in Phi-3's vocabulary. */
import { Tokenizer } from '../src/model/tokenizer.ts';
import { phi3VocabObject } from './phi3-vocab.ts';

export const PROMPT_TEXT =
  'The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined ' +
  'movable metal type, oil-based inks and a wooden press adapted from wine making. Within fifty years, ' +
  'presses had spread to more than two hundred cities across Europe, and the price of books fell sharply. ' +
  'Scholars could compare identical copies of a text for the first time, which changed how knowledge was shared.';

let tok: Tokenizer | undefined;

/** BOS + the prompt text, cut to exactly n ids. */
export function promptIds(n: number): number[] {
  tok ??= new Tokenizer(phi3VocabObject());
  const ids = tok.encode(PROMPT_TEXT, { addSpecial: true });
  if (ids.length < n) throw new Error(`prompt text has only ${ids.length} tokens`);
  return ids.slice(0, n);
}
