/** The tokenizer a vocabulary asks for: SentencePiece ("llama") or GPT-2 byte-level BPE ("gpt2"). */
import { BpeTokenizer } from './bpe-tokenizer.ts';
import { Tokenizer, type TextTokenizer } from './tokenizer.ts';
import type { Vocab } from './vocab.ts';

export function createTokenizer(vocab: Vocab): TextTokenizer {
  return vocab.model === 'gpt2' ? new BpeTokenizer(vocab) : new Tokenizer(vocab);
}
