/**
 * The byte-level BPE pieces on their own (llama.cpp equality is tokenizer.bpe.llama.test.ts):
 * the GPT-2 byte map, the gpt-4o and llama3 word splits, and what the tokenizer refuses.
 * Breaks if the byte map stops being a bijection onto printable characters, or a split rule
 * (digit groups, contractions, marks, newline runs, trailing whitespace) changes.
 */
import { describe, expect, it } from 'vitest';
import { bpeVocabObject } from '../../scripts/bpe-vocab.ts';
import { bpeSmallVocab } from '../../scripts/bpe-small-vocab.ts';
import { phi3VocabObject } from '../../scripts/phi3-vocab.ts';
import { splitDefault, splitGpt2, splitGpt4o, splitLlama3 } from './bpe-pretokenize.ts';
import { BYTE_TO_CHAR, BpeTokenizer, byteEncode } from './bpe-tokenizer.ts';
import { Tokenizer } from './tokenizer.ts';

describe('GPT-2 byte map', () => {
  it('maps the 256 bytes to 256 distinct printable characters, keeping printable Latin-1', () => {
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
    expect(BYTE_TO_CHAR.every((c) => /^\P{C}$/u.test(c) && !/\s/.test(c))).toBe(true);
    expect(BYTE_TO_CHAR[0x41]).toBe('A');
    expect(BYTE_TO_CHAR[0xe9]).toBe('é');
    expect([BYTE_TO_CHAR[0x20], BYTE_TO_CHAR[0x0a], BYTE_TO_CHAR[0x00]]).toEqual(['\u0120', '\u010a', '\u0100']);
    expect(byteEncode(' é\n')).toBe('\u0120\u00c3\u00a9\u010a');
  });
});

describe('gpt-4o split', () => {
  it('groups digits by three from the left, apart from letters', () => {
    expect(splitGpt4o('1234567')).toEqual(['123', '456', '7']);
    expect(splitGpt4o('x1234')).toEqual(['x', '123', '4']);
  });
  it('keeps case runs and contractions with their word, and a leading space or punctuation', () => {
    expect(splitGpt4o("I'm HTTPServer's camelCase")).toEqual(["I'm", ' HTTPServer\'s', ' camel', 'Case']);
    expect(splitGpt4o('"Hello')).toEqual(['"Hello']);
  });
  it('splits combining marks off their letters (llama.cpp: a mark is not a letter)', () => {
    expect(splitGpt4o('e\u0301t\u00e9')).toEqual(['e', '\u0301t\u00e9']);
  });
  it('keeps newline runs, punctuation with trailing newlines and slashes, and trailing spaces', () => {
    expect(splitGpt4o('a\n\n b')).toEqual(['a', '\n\n', ' b']);
    expect(splitGpt4o('x;\n/y')).toEqual(['x', ';\n/', 'y']);
    expect(splitGpt4o('a   b  ')).toEqual(['a', '  ', ' b', '  ']);
  });
  it('splits astral characters whole (offsets are per code point)', () => {
    expect(splitGpt4o('😀😀 a')).toEqual(['😀😀', ' a']);
  });
});

describe('llama3 split', () => {
  it('splits case-insensitive contractions and single-digit runs as llama.cpp does', () => {
    expect(splitLlama3("I'M fine1234")).toEqual(['I', "'M", ' fine', '123', '4']);
    expect(splitLlama3('a \n\n b')).toEqual(['a', ' \n\n', ' b']);
  });
});

describe('gpt-2 and default splits', () => {
  it('gpt-2: whole digit runs, a space joins the next run, case-sensitive contractions', () => {
    expect(splitGpt2("1234567 x I'M it's")).toEqual(['1234567', ' x', ' I', "'", 'M', ' it', "'s"]);
  });
  it('default: punctuation runs first, then GPT-2, then digit runs cut in threes from the left', () => {
    expect(splitDefault('a+b 1234567')).toEqual(['a', '+', 'b', ' ', '123', '456', '7']);
  });
});

describe('BpeTokenizer', () => {
  it('refuses a SentencePiece vocabulary', () => {
    expect(() => new BpeTokenizer(phi3VocabObject())).toThrow(/gpt2 vocabulary/);
  });
  it('round-trips text without special tokens', () => {
    const tok = new BpeTokenizer(bpeVocabObject(bpeSmallVocab()));
    for (const text of ['Hello world', ' 東京 😀\n\tx', 'e\u0301 <|end', '']) expect(tok.decode(tok.encode(text))).toBe(text);
  });
});

describe('add_eos', () => {
  it('appends EOS with special tokens and drops it again on decode with removeSpecial, in both tokenizers', () => {
    const bpeVocab = { ...bpeVocabObject(bpeSmallVocab()), addEos: true };
    const spmVocab = { ...phi3VocabObject(), addEos: true };
    // SentencePiece keeps the space prefix of "▁Hello" once a BOS was removed (llama.cpp).
    for (const [tok, text] of [[new BpeTokenizer(bpeVocab), 'Hello'], [new Tokenizer(spmVocab), ' Hello']] as const) {
      const ids = tok.encode('Hello');
      expect(ids.at(-1)).toBe(tok.vocab.eosId);
      expect(tok.encode('Hello', { addSpecial: false })).not.toContain(tok.vocab.eosId);
      expect(tok.decode(ids, { removeSpecial: true, unparseSpecial: true })).toBe(text);
    }
  });
});
