/**
 * Fixed prompts for model comparisons: real English text, tokenized in the test model's own
 * vocabulary (Phi-3's SentencePiece one unless the model was generated with a BPE vocabulary).
 */
import { createTokenizer } from '../src/model/create-tokenizer.ts';
import type { TextTokenizer } from '../src/model/tokenizer.ts';
import { phi3VocabObject } from './phi3-vocab.ts';
import { bpeVocabObject, o200kVocab } from './bpe-vocab.ts';
import { bpeSmallVocab } from './bpe-small-vocab.ts';
import type { TestVocab } from './test-model-spec.ts';

export const PROMPT_TEXT =
  'The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined ' +
  'movable metal type, oil-based inks and a wooden press adapted from wine making. Within fifty years, ' +
  'presses had spread to more than two hundred cities across Europe, and the price of books fell sharply. ' +
  'Scholars could compare identical copies of a text for the first time, which changed how knowledge was shared.';

const tokenizers = new Map<TestVocab, TextTokenizer>();

function tokenizerOf(vocab: TestVocab): TextTokenizer {
  let tok = tokenizers.get(vocab);
  if (!tok) {
    const v = vocab === 'phi3' ? phi3VocabObject() : bpeVocabObject(vocab === 'o200k' ? o200kVocab() : bpeSmallVocab());
    tok = createTokenizer(v);
    tokenizers.set(vocab, tok);
  }
  return tok;
}

/** The prompt text in `vocab`, with BOS where that vocabulary adds one, cut to exactly n ids. */
export function promptIds(n: number, vocab: TestVocab = 'phi3'): number[] {
  const ids = tokenizerOf(vocab).encode(PROMPT_TEXT, { addSpecial: true });
  if (ids.length < n) throw new Error(`prompt text has only ${ids.length} tokens in the ${vocab} vocabulary`);
  return ids.slice(0, n);
}
