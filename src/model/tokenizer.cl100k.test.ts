/**
 * Phi-3-small's tokenizer: cl100k_base's ranks read from a `.tiktoken` file, merges derived from
 * the ranks, the `cl100k` pre-tokenizer and our byte-level BPE give, token for token, what
 * tiktoken's cl100k_base gives (js-tiktoken, with Phi-3-small's specials added), and decode
 * round-trips. Breaks if the split regex, the merge derivation, the whole-word lookup or the
 * special-token partition drifts from tiktoken. Also: what the `.tiktoken` parser refuses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100kBase from 'js-tiktoken/ranks/cl100k_base';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsTiktokenRanks } from '../../scripts/bpe-vocab.ts';
import { tiktokenFileText } from '../../scripts/make-hf-checkpoint.ts';
import { ModelFormatError } from '../common/errors.ts';
import { Rng } from '../util/rng.ts';
import { splitCl100k } from './bpe-pretokenize.ts';
import { BpeTokenizer } from './bpe-tokenizer.ts';
import {
  PHI3_SMALL_VOCAB_SIZE, mergesFromRanks, parseTiktoken, phi3SmallDummyIds, phi3SmallSpecials, phi3SmallVocab,
} from './tiktoken-vocab.ts';
import type { Vocab } from './vocab.ts';

let ours: BpeTokenizer;
let ref: Tiktoken;

beforeAll(() => {
  const byRank = parseTiktoken(tiktokenFileText(jsTiktokenRanks('cl100k_base')), 'cl100k_base.tiktoken');
  const v = phi3SmallVocab(byRank);
  const vocab: Vocab = {
    model: 'gpt2', pre: 'cl100k', merges: v.merges, tokens: v.tokens, scores: new Float32Array(v.tokens.length), types: v.types,
    bosId: 100257, eosId: 100257, unkId: -1, addBos: false, addEos: false, addSpacePrefix: false, isPhi3: false,
  };
  ours = new BpeTokenizer(vocab);
  const specials: Record<string, number> = {};
  for (const [id, text] of phi3SmallSpecials()) specials[text] = id;
  ref = new Tiktoken(cl100kBase, specials);
}, 120_000);

const FIXED = [
  'Hello world', "I'm sure you're right, they've said we'll see; he'd go. It's Bob's",
  "I'M SURE YOU'RE RIGHT THEY'VE WE'LL HE'D IT'S", "i'M yOu'Re ThEy'vE wE'lL hE'd iT'S 'S 'T 'Re 'rE 'lL 'Ll",
  "don't 's 't 're 've 'm 'll 'd ''s '''", "x'sy 'sa 12's",
  '1234567890 12 3.14159 1,000,000 ٣٤٥ 𝟙𝟚𝟛 ½ Ⅻ', 'a1b22c333d4444',
  '東京は日本の首都です。 Москва — столица России. Ελληνικά. עברית مرحبا हिन्दी ภาษาไทย 한국어',
  'e\u0301t\u00e9 cafe\u0301 n\u0303 \u0915\u093f', '😀😀 👍🏽 👨‍👩‍👧 🇫🇷 a😀b',
  'a  b   c    d\t\te\n\nf\r\n\r\ng \n \n h   \n', '   ', '\n', ' ', '\t\n \t', 'trailing   ', '   leading',
  'function f(x) {\n  return x * 2; // double\n}\n\nconst a = [1, 2, 3].map((v) => v ** 2);\n',
  'def foo(bar):\n    """Doc."""\n    if bar != None:\n        return {"k": bar[0:3]}\n',
  '<html><body class="x">&nbsp;&amp;</body></html>', '$$\\frac{a}{b}$$ ~~~ ___ *** ### ((( ))) !!! ???',
  'https://example.com/a/b?c=d&e=f#g user@example.org', 'C:\\Users\\me\\file.txt',
  '<|user|>\nHello<|end|>\n<|assistant|>\n', '<|endoftext|>text<|system|>You are.<|end|>',
  'a<|dummy_id_7|>b<|fim_prefix|>c<|fim_middle|>d<|fim_suffix|>e<|endofprompt|>f<|dummy_id_80|>',
  '<|end', '<|end|', '|>', '<|unknown|>', '\u00a0x\u2003y\u3000z', 'A\u2028B\u2029C', '\u200b\u200d',
  'ÀÉÎÕÜ àéîõü ß ẞ ﬁ ĳ', 'ǅungla ǈ ǋ', 'Ⓐⓑ ⒜', '\u0000\u0001\u001f\u007f', '\uFFFD', 'ab\u0301\u0301\u0301',
];

/** Seeded strings over a pool that mixes every class the split rule distinguishes. */
function randomTexts(n: number): string[] {
  const pool = [
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', ...'0123456789', ...' \t\n\r\u000b\u000c',
    ...'\'"!#$%&()*+,-./:;<=>?@[\\]^_`{|}~', ...'éÉñßøŁ', ...'東京日本語', ...'абвгд', ...'٣٤٥', ...'\u0301\u0303',
    '😀', '👍🏽', '\u00a0', '\u2003', '\u3000', '\u2028', '½', 'Ⅻ', "'s", "'T", "'re", "'LL", "'d", "'M", "'vE",
    '<|end|>', '<|user|>', '<|endoftext|>', '<|dummy_id_3|>', '    ', '\n\n', '123456',
  ];
  const rng = new Rng(7);
  return Array.from({ length: n }, () => {
    const len = rng.int(1, 40);
    let s = '';
    for (let i = 0; i < len; i++) s += pool[rng.int(0, pool.length - 1)];
    return s;
  });
}

/** Real text: this project's sources and documents. */
function projectTexts(): string[] {
  const dir = join(import.meta.dirname, '.');
  return readdirSync(dir).filter((f) => /\.(ts|md)$/.test(f)).slice(0, 40).map((f) => readFileSync(join(dir, f), 'utf8'));
}

describe('cl100k tokenizer (Phi-3-small) equals tiktoken', () => {
  it('the vocabulary: 100352 ids, cl100k ranks, the specials and dummies at their ids', () => {
    expect(ours.size).toBe(PHI3_SMALL_VOCAB_SIZE);
    expect(ours.idOf('<|endoftext|>')).toBe(100257);
    expect(ours.idOf('<|end|>')).toBe(100266);
    expect(ours.idOf('<|dummy_id_2|>')).toBe(100256);
    expect(ours.idOf('<|dummy_id_12|>')).toBe(100277);
    expect(ours.idOf(`<|dummy_id_${100351 - 100265}|>`)).toBe(100351);
    const dummies = phi3SmallDummyIds();
    // The 96 specials but <|endoftext|>, <|system|>, <|user|>, <|assistant|> and <|end|>.
    expect(dummies).toHaveLength(PHI3_SMALL_VOCAB_SIZE - 100256 - 5);
    expect(dummies).toContain(100258);
    expect(dummies).toContain(100276);
    expect(dummies).not.toContain(100266);
  });

  it('same ids as js-tiktoken over fixed, random and real texts (specials allowed); decode round-trips', () => {
    const texts = [...FIXED, ...randomTexts(3000), ...projectTexts()];
    let mismatches = 0;
    const roundTripFailures: string[] = [];
    const first: string[] = [];
    for (const t of texts) {
      const a = ours.encode(t, { parseSpecial: true, addSpecial: false });
      const b = ref.encode(t, 'all');
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
        mismatches++;
        if (first.length < 5) first.push(`${JSON.stringify(t.slice(0, 60))}: ours ${a.slice(0, 12).join(',')} ref ${b.slice(0, 12).join(',')}`);
      }
      if (ours.decode(a, { unparseSpecial: true }) !== t) roundTripFailures.push(t.slice(0, 60));
    }
    expect(first).toEqual([]);
    expect(mismatches).toBe(0);
    expect(roundTripFailures).toEqual([]);
  }, 120_000);

  it('specials stay text unless parsed; no whitespace is stripped around them', () => {
    const ids = ours.encode('<|user|>\n Hi <|end|>\n', { parseSpecial: true, addSpecial: false });
    expect(ids[0]).toBe(100262);
    expect(ours.decode(ids, { unparseSpecial: true })).toBe('<|user|>\n Hi <|end|>\n');
    expect(ours.encode('<|end|>', { addSpecial: false })).toEqual(ref.encode('<|end|>', [], []));
  });

  it('where js-tiktoken and tiktoken differ, the split follows tiktoken (Rust White_Space, Unicode case folding)', () => {
    // U+0085 is White_Space (JS's \s lacks it); U+FEFF is not (JS's \s has it).
    expect(splitCl100k('a\u0085\u0085b')).toEqual(['a', '\u0085', '\u0085b']);
    expect(splitCl100k('a \ufeffb')).toEqual(['a', ' \ufeff', 'b']);
    // (?i:'s) matches U+017F (long s), which folds to s.
    expect(splitCl100k("x'\u017f")).toEqual(['x', "'\u017f"]);
  });
});

describe('.tiktoken parsing and merges', () => {
  it('reads lines in any order and derives one merge per multi-byte token', () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    const all = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
    const lines = all.map((b, r) => `${Buffer.from(b).toString('base64')} ${r}`);
    lines.push(`${Buffer.from('ab').toString('base64')} 256`, `${Buffer.from('abc').toString('base64')} 257`);
    const parsed = parseTiktoken([...lines].reverse().join('\n') + '\n');
    expect(parsed.length).toBe(258);
    expect(mergesFromRanks(parsed)).toEqual(['a b', 'ab c']);
    expect(Buffer.from(parsed[257]).equals(Buffer.from(bytes('abc')))).toBe(true);
  });

  it('refuses malformed lines, duplicate ranks or tokens, gaps and non-BPE ranks, naming the line', () => {
    const ok = 'YQ== 0\nYg== 1\n';
    expect(() => parseTiktoken(ok + 'YWI=\n')).toThrow(/line 3 is not "<base64 token> <rank>"/);
    expect(() => parseTiktoken(ok + 'YWI= x\n')).toThrow(ModelFormatError);
    expect(() => parseTiktoken(ok + '!!! 2\n')).toThrow(/line 3/);
    expect(() => parseTiktoken(ok + 'YWI= 1\n')).toThrow(/line 3: rank 1 appears twice/);
    expect(() => parseTiktoken(ok + 'YQ== 2\n')).toThrow(/repeats the token of rank 0/);
    expect(() => parseTiktoken(ok + 'YWI= 3\n')).toThrow(/rank 2 is missing/);
    expect(() => parseTiktoken('')).toThrow(/holds no tokens/);
    expect(() => mergesFromRanks(parseTiktoken(ok))).toThrow(/no token for the byte 0x00/);
    const all = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
    expect(() => mergesFromRanks([...all, new TextEncoder().encode('abc')])).toThrow(/rank 256 is not one merge/);
    expect(() => phi3SmallVocab(all)).toThrow(/100256/);
  });
});
