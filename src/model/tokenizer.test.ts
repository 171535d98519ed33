/**
 * Tokenizer without llama.cpp: PHI3.md 6.2 / 6.4 vectors, the partition rules, round trips,
 * the chunking shortcut, speed. (Token-for-token equality with llama.cpp: tokenizer.llama.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { phi3VocabObject } from '../../scripts/phi3-vocab.ts';
import { mixedText, textCorpus } from '../../scripts/bench-tokenizer.ts';
import { Tokenizer, toWellFormed } from './tokenizer.ts';
import { TokenType, type Vocab } from './vocab.ts';

const tok = new Tokenizer(phi3VocabObject());
const text = { addSpecial: false };

describe('SPM encode (PHI3.md 6.2)', () => {
  it('matches the ggml-vocab-phi-3 test vectors', () => {
    // Breaks if the space prefix, "▁" escaping or the merge order is wrong.
    expect(tok.encode('Hello world', text)).toEqual([15043, 3186]);
    expect(tok.encode(' Hello world', text)).toEqual([29871, 15043, 3186]);
    expect(tok.encode('\n', text)).toEqual([29871, 13]);
  });

  it('adds BOS only with addSpecial (the default) and encodes "" to nothing else', () => {
    expect(tok.encode('Hello world')).toEqual([1, 15043, 3186]);
    expect(tok.encode('')).toEqual([1]);
    expect(tok.encode('', text)).toEqual([]);
  });

  it('falls back to UTF-8 byte tokens for characters outside the vocabulary', () => {
    // 😀 = F0 9F 98 80 -> <0xF0>.. = 3 + byte; after the "▁" prefix piece.
    expect(tok.encode('😀', text)).toEqual([29871, 3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80]);
  });

  it('sees lone surrogates as U+FFFD, as Node hands them to llama.cpp', () => {
    expect(toWellFormed('a\uD800b\uDC00c\uD83D\uDE00')).toBe('a\uFFFDb\uFFFDc\uD83D\uDE00');
    expect(tok.encode('x\uDBFF', text)).toEqual(tok.encode('x\uFFFD', text));
  });
});

describe('special tokens (PHI3.md 6.3, 6.4)', () => {
  it('encodes the 6.4 chat prompts to the documented ids', () => {
    const sys = '<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n<|assistant|>\n';
    expect(tok.encode(sys, { parseSpecial: true })).toEqual(
      [1, 32006, 887, 526, 263, 8444, 20255, 29889, 32007, 32010, 15043, 29991, 32007, 32001]);
    const knight = '<|user|>\nHow to explain Internet for a medieval knight?<|end|>\n<|assistant|>\n';
    expect(tok.encode(knight, { parseSpecial: true })).toEqual(
      [1, 32010, 1128, 304, 5649, 4685, 363, 263, 27690, 889, 523, 29973, 32007, 32001]);
  });

  it('keeps special text as text without parseSpecial', () => {
    const ids = tok.encode('<|user|>hi<|end|></s><s>[PAD32011]', { parseSpecial: false });
    expect(ids.filter((id) => id < 3 || id >= 32000)).toEqual([1]); // only the BOS
  });

  it('RSTRIPs every C-isspace after Phi-3 specials, but not after <s>, <unk>, <|endoftext|>', () => {
    const ps = { addSpecial: false, parseSpecial: true };
    // " \t\n\v\f\r" all go; the next text then gets the "▁" prefix: "▁x" = 921.
    expect(tok.encode('<|end|> \t\n\v\f\rx', ps)).toEqual([32007, 921]);
    expect(tok.encode('</s>\n x', ps)).toEqual([2, 921]);
    expect(tok.encode('<|user|>\u00A0x', ps)[1]).not.toBe(921); // NBSP is not C isspace
    // No RSTRIP: " x" after <s> keeps its space and gets the prefix too: "▁▁x" -> [▁, ▁x]...
    expect(tok.encode('<s> x', ps)).toEqual([1, 29871, 921]);
    // ...which is what a fresh text fragment gets (encode also prefixes the first fragment).
    expect(tok.encode('<s> x', ps)).toEqual([1, ...tok.encode(' x', text)]);
    expect(tok.encode('<|endoftext|>\nx', ps)).toEqual([32000, ...tok.encode('\nx', text)]);
  });

  it('prefers the longest special token and splits text around it', () => {
    const ps = { addSpecial: false, parseSpecial: true };
    expect(tok.encode('a<|endoftext|>b', ps)).toEqual([...tok.encode('a', text), 32000, ...tok.encode('b', text)]);
    expect(tok.encode('<|endoftext|>', ps)).toEqual([32000]); // not <|end|> + "oftext|>"
    expect(tok.encode('<|end|><|end|>', ps)).toEqual([32007, 32007]);
  });
});

describe('decode', () => {
  it('round-trips a seeded corpus (no special text), dropping only the space prefix', () => {
    // Breaks if a byte, a space or a piece is lost. Special text is excluded: RSTRIP and the
    // space prefix after specials are not invertible by design; a literal "▁" comes back as " ".
    let n = 0;
    for (const { cat, text: s } of textCorpus(11, 1200)) {
      if (cat === 'special') continue;
      const clean = toWellFormed(s).replaceAll('\u2581', ' ');
      expect(tok.decode(tok.encode(s, text))).toBe(clean);
      // With BOS the first token is BOS, which consumes llama.cpp's one-shot space removal.
      expect(tok.decode(tok.encode(s))).toBe(clean === '' ? '' : ' ' + clean);
      n++;
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('renders specials only with unparseSpecial and drops BOS with removeSpecial', () => {
    const ids = tok.encode('<|user|>\nHi<|end|>', { parseSpecial: true });
    expect(tok.decode(ids)).toBe(' Hi');
    expect(tok.decode(ids, { unparseSpecial: true })).toBe('<s><|user|> Hi<|end|>');
    expect(tok.decode(ids, { removeSpecial: true, unparseSpecial: true })).toBe('<|user|> Hi<|end|>');
    expect(() => tok.decode([32064])).toThrow(RangeError);
  });

  it('keeps a leading U+FEFF (not a byte-order mark here)', () => {
    expect(tok.decode(tok.encode('\uFEFFx', text))).toBe('\uFEFFx');
  });
});

describe('performance and the chunking shortcut', () => {
  it('chunked encoding equals whole-fragment encoding', () => {
    // Breaks if cutting fragments before "▁" ever changes the merges (see Tokenizer.splitAtSpaces).
    const whole = new Tokenizer(phi3VocabObject());
    Object.assign(whole, { splitAtSpaces: false });
    for (const { text: s } of textCorpus(5, 600)) {
      expect(tok.encode(s, { parseSpecial: true })).toEqual(whole.encode(s, { parseSpecial: true }));
    }
  });

  it('falls back to whole fragments when a piece has "▁" after another character', () => {
    // A vocab where "a▁b" is one piece: cutting before "▁" would wrongly give [a, ▁b].
    const toks = ['<unk>', '<s>', '</s>', '▁', 'a', 'b', 'a▁', 'a▁b', '▁b'];
    const v: Vocab = {
      tokens: toks,
      scores: Float32Array.from(toks.map((_, i) => -i)),
      types: Int32Array.from(toks.map((_, i) => (i < 2 ? TokenType.CONTROL : TokenType.NORMAL))),
      bosId: 1, eosId: 2, unkId: 0, addBos: false, addSpacePrefix: false, isPhi3: false,
    };
    expect(new Tokenizer(v).encode('a b')).toEqual([7]);
  });

  // Speed is measured by scripts/bench-tokenizer.ts, not asserted here; these inputs would hit the
  // test timeout if encoding went quadratic (a 1 MB text, one 280k-character fragment with no
  // spaces, a 200k-space run), and their outputs are checked for sanity.
  it('encodes 1 MB of mixed text and adversarial long fragments', () => {
    const big = mixedText(3, 1 << 20);
    const tok = new Tokenizer(phi3VocabObject());
    const ids = tok.encode(big, { parseSpecial: true });
    expect(ids.length).toBeGreaterThan(100_000);
    const cjk = '机器学习是人工智能的一个分支'.repeat(20000);
    expect(tok.decode(tok.encode(cjk, text))).toBe(cjk);
    const spaces = tok.encode(' '.repeat(200_000) + 'x', text);
    expect(tok.decode(spaces)).toBe(' '.repeat(200_000) + 'x');
  });
});
