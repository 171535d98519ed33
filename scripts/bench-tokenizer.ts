/**
 * Tokenizer benchmark and the seeded text generators the tokenizer tests share.
 *
 *   npx tsx scripts/bench-tokenizer.ts [--mb 1] [--runs 5] [--seed 1] [--vocab phi3 | o200k]
 *
 * Encodes a ~1 MB mixed text (prose, code, CJK, emoji, RTL, whitespace runs) `runs` times with a
 * fresh tokenizer each run (so the word cache starts cold) and prints the median as JSON. The
 * vocabulary is Phi-3's (SentencePiece) or Phi-4-mini's o200k (byte-level BPE).
 */
import { pathToFileURL } from 'node:url';
import { Rng } from '../src/util/rng.ts';
import { createTokenizer } from '../src/model/create-tokenizer.ts';
import { PHI3_ADDED_TOKENS, phi3VocabObject } from './phi3-vocab.ts';

const WORDS = (
  'the of and to in is was for that with as on by it at from his an were are which this be or had ' +
  'not but also have one their first new has its after who they two been other all more time into ' +
  'year only over can most than some would about where later many such between when used people ' +
  'model token window browser kernel shader buffer memory layer attention matrix vector offline ' +
  'Hello World Internet medieval knight assistant helpful explain question answer London Paris ' +
  "don't it's we'll I'm they're naïve café résumé coöperate Zürich São Paulo"
).split(' ');
const PUNCT = ['.', ',', '!', '?', ';', ':', ' -', ' —', '...', '"', "'", '(', ')'];
const CODE = [
  'function add(a, b) {\n  return a + b;\n}\n',
  'for (let i = 0; i < n; i++) {\n\tsum += x[i] * w[i];\n}\n',
  'def forward(self, x):\n    h = x + self.attn(self.norm(x))\n    return h + self.ffn(h)\n',
  '#include <stdio.h>\r\nint main(void) {\r\n    printf("%d\\n", 42);\r\n    return 0;\r\n}\r\n',
  'const m = /^(\\d+)\\s*=>\\s*(\\w+)$/u.exec(line);\n',
  '<div class="chat">\n  <p>{{ message }}</p>\n</div>\n',
  'SELECT id, name FROM users WHERE age >= 18 ORDER BY name;\n',
  '    if x is None:\n        raise ValueError(f"bad {x!r}")\n',
  '});\r\n});\r\n',
  '/* comment */\n// line comment\n',
];
const CJK = [
  '今天天气很好，我们去公园散步吧。', '机器学习是人工智能的一个分支。', '東京は日本の首都です。',
  'ひらがなとカタカナ、そして漢字。', '안녕하세요, 만나서 반갑습니다.', '한국어 형태소 분석기',
  '龍飛鳳舞，鬱鬱蔥蔥。', '𠀀𠀁𪚥 (astral CJK)',
];
const RTL = [
  'مرحبا بالعالم', 'اللغة العربية جميلة جداً', 'שלום עולם', 'עברית עם ניקוד: שָׁלוֹם',
  'mixed العربية and English', '\u200Fright-to-left mark\u200E',
];
const EMOJI = [
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '🏳️‍🌈', '❤️', '✈︎', '🤖', '🧠', '🚀✨', '#️⃣', '🫠', '©', '™',
];
const COMBINING = ['e\u0301', 'n\u0303', 'a\u0308\u0323', 'Z\u0336\u0317\u0353a\u0358l\u035Bg\u0364o', '\u0915\u094D\u0937', 'ก\u0e34\u0e4a'];
const SPACES = [' ', '  ', '   ', '    ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r', '\v', '\f', ' \n ', '\u00A0', '\u3000'];
/** Every special token text of Phi-3, plus near misses. */
export const SPECIAL_TEXTS = [
  '<s>', '</s>', '<unk>', ...PHI3_ADDED_TOKENS, '[PAD32011]', '[PAD32063]',
  '<|end', '|end|>', '<|end|', '<|user', '<|endoftext', '< s>', '<s', '</s', '<|<|end|>|>', '<<s>>',
];

function pick<T>(rng: Rng, a: readonly T[]): T {
  return a[rng.int(0, a.length - 1)];
}

function prose(rng: Rng, words: number): string {
  let s = '';
  for (let i = 0; i < words; i++) {
    let w = pick(rng, WORDS);
    if (i === 0 || rng.next() < 0.08) w = w[0].toUpperCase() + w.slice(1);
    s += (i ? ' ' : '') + w;
    if (rng.next() < 0.1) s += pick(rng, PUNCT);
    if (rng.next() < 0.03) s += ' ' + rng.int(0, 100000);
  }
  return s + '.';
}

/** A random code point from ranges that stress the byte fallback and odd characters. */
function oddChar(rng: Rng): string {
  const ranges: [number, number][] = [
    [0x01, 0x1f], [0x7f, 0xa0], [0x0100, 0x024f], [0x0370, 0x03ff], [0x0400, 0x04ff], [0x0590, 0x06ff],
    [0x0900, 0x097f], [0x0e00, 0x0e7f], [0x2000, 0x206f], [0x2580, 0x259f], [0x3040, 0x30ff],
    [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xe000, 0xe0ff], [0xfe00, 0xfeff], [0xfff0, 0xfffd],
    [0x1f300, 0x1faff], [0x20000, 0x2a6df], [0x10fff0, 0x10ffff],
  ];
  const [lo, hi] = pick(rng, ranges);
  return String.fromCodePoint(rng.int(lo, hi));
}

function loneSurrogate(rng: Rng): string {
  return String.fromCharCode(rng.next() < 0.5 ? rng.int(0xd800, 0xdbff) : rng.int(0xdc00, 0xdfff));
}

/** A concatenation of random vocabulary pieces ("▁" as space): stresses merge order. */
function pieces(rng: Rng, tokens: readonly string[], n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += tokens[rng.int(259, 31999)].replaceAll('\u2581', ' ');
  return s;
}

export type Category =
  | 'prose' | 'code' | 'spaces' | 'emoji' | 'cjk' | 'rtl' | 'combining' | 'surrogates' | 'special'
  | 'odd' | 'pieces' | 'mixed';
export const CATEGORIES: Category[] = [
  'prose', 'code', 'spaces', 'emoji', 'cjk', 'rtl', 'combining', 'surrogates', 'special', 'odd', 'pieces', 'mixed',
];

/** One random string of the given category. */
export function sampleText(rng: Rng, cat: Category): string {
  const tokens = phi3VocabObject().tokens;
  const many = (f: () => string, lo: number, hi: number, sep = ''): string =>
    Array.from({ length: rng.int(lo, hi) }, f).join(sep);
  switch (cat) {
    case 'prose': return prose(rng, rng.int(1, 60));
    case 'code': return many(() => pick(rng, CODE), 1, 3);
    case 'spaces': return many(() => (rng.next() < 0.5 ? pick(rng, SPACES) : pick(rng, WORDS)), 1, 20);
    case 'emoji': return many(() => pick(rng, EMOJI) + (rng.next() < 0.3 ? ' ' : ''), 1, 12);
    case 'cjk': return many(() => pick(rng, CJK), 1, 3, rng.next() < 0.5 ? '' : ' ');
    case 'rtl': return many(() => pick(rng, RTL), 1, 3, ' ');
    case 'combining': return many(() => pick(rng, COMBINING) + (rng.next() < 0.4 ? pick(rng, WORDS) : ''), 1, 8, ' ');
    case 'surrogates': return many(() => (rng.next() < 0.3 ? loneSurrogate(rng) : pick(rng, [...WORDS, ...EMOJI, ' '])), 1, 12);
    case 'special': return many(() => (rng.next() < 0.5 ? pick(rng, SPECIAL_TEXTS) : pick(rng, [...SPACES, ...WORDS, ''])), 1, 14);
    case 'odd': return many(() => oddChar(rng), 1, 16);
    case 'pieces': return pieces(rng, tokens, rng.int(1, 20));
    case 'mixed': return many(() => sampleText(rng, pick(rng, CATEGORIES.filter((c) => c !== 'mixed'))), 2, 5);
  }
}

/** `n` strings cycling through all categories, reproducible from `seed`. */
export function textCorpus(seed: number, n: number): { cat: Category; text: string }[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const cat = CATEGORIES[i % CATEGORIES.length];
    return { cat, text: sampleText(rng, cat) };
  });
}

/** About `bytes` UTF-8 bytes of mixed text: mostly prose and code, some CJK, emoji, RTL. */
export function mixedText(seed: number, bytes: number): string {
  const rng = new Rng(seed);
  const enc = new TextEncoder();
  const parts: string[] = [];
  let size = 0;
  const weights: [Category, number][] = [['prose', 50], ['code', 20], ['cjk', 10], ['emoji', 5], ['rtl', 5], ['spaces', 5], ['pieces', 5]];
  const total = weights.reduce((a, [, w]) => a + w, 0);
  while (size < bytes) {
    let r = rng.int(0, total - 1);
    let cat: Category = 'prose';
    for (const [c, w] of weights) {
      if (r < w) { cat = c; break; }
      r -= w;
    }
    const s = sampleText(rng, cat) + (rng.next() < 0.3 ? '\n\n' : ' ');
    parts.push(s);
    size += enc.encode(s).length;
  }
  return parts.join('');
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function main(): Promise<void> {
  const { bpeVocabObject, o200kVocab } = await import('./bpe-vocab.ts');
  const mb = arg('mb', 1);
  const runs = arg('runs', 5);
  const text = mixedText(arg('seed', 1), Math.round(mb * 1024 * 1024));
  const bytes = new TextEncoder().encode(text).length;
  const vocabName = process.argv.includes('--vocab') ? process.argv[process.argv.indexOf('--vocab') + 1] : 'phi3';
  if (vocabName !== 'phi3' && vocabName !== 'o200k') throw new Error('--vocab must be phi3 or o200k');
  // Imported only here: bpe-vocab.ts imports this module's corpus generators.
  const vocab = vocabName === 'o200k' ? bpeVocabObject(o200kVocab()) : phi3VocabObject();
  const times: number[] = [];
  let nTokens = 0;
  for (let r = 0; r < runs; r++) {
    const tok = createTokenizer(vocab); // cold word cache every run
    const t0 = performance.now();
    nTokens = tok.encode(text, { parseSpecial: true }).length;
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({
    vocab: vocabName, bytes, chars: text.length, tokens: nTokens, runs,
    medianSeconds: +median.toFixed(4),
    tokensPerSecond: Math.round(nTokens / median),
    MBPerSecond: +(bytes / 1024 / 1024 / median).toFixed(2),
  }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
