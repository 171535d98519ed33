/**
 * The pre-tokenizers of llama.cpp's GPT-2 byte-level BPE path (unicode.cpp `unicode_regex_split`),
 * which cut a text fragment into words before the merges run.
 *
 * llama.cpp does not run a full Unicode regex. For gpt-4o it "collapses" every code point to one
 * byte (ASCII stays; others become one byte per category: whitespace, letter, number,
 * punctuation, mark, symbol, other) and runs std::regex on that, with `\p{L}` rewritten to
 * `[<letter byte>A-Za-z]` and so on. So `[^a-z]` matches every non-ASCII letter, combining marks
 * are not letters (they split words), and its Unicode tables are its own (see `LATE_ASSIGNED`).
 * We do the same: collapse, then run the equivalent JS regex over the collapsed string, whose
 * semantics (ECMAScript, leftmost alternative, greedy with backtracking) are std::regex's.
 * For llama3 and gpt-2 llama.cpp uses hand-written matchers (`unicode_regex_split_custom_llama3`,
 * `unicode_regex_split_custom_gpt2`) over the same category flags; `splitLlama3` and `splitGpt2`
 * follow them. Its "default" pre-tokenizer chains four splits (`splitDefault`).
 */

/** Collapsed category of a code point >= 128 (and the byte llama.cpp collapses it to). */
const enum Cat {
  Other = 0xd0,
  Number = 0xd1,
  Letter = 0xd2,
  Punct = 0xd3,
  Mark = 0xd4,
  Symbol = 0xd5,
  Space = 0x0b,
}

/** Non-ASCII code points that llama.cpp's whitespace set holds (unicode-data.cpp). */
const WIDE_SPACES = new Set([0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);

/**
 * Code point ranges [lo, hi] first assigned in Unicode 16.0 and 17.0. llama.cpp's category table
 * predates them and treats them as unassigned (category "other"); a JS engine with newer Unicode
 * data would call some of them letters or numbers. Listed so the split does not depend on the
 * JS engine's Unicode version.
 */
const LATE_ASSIGNED = [
  0x88f, 0x88f, 0x897, 0x897, 0xc5c, 0xc5c, 0xcdc, 0xcdc, 0x1acf, 0x1add, 0x1ae0, 0x1aeb, 0x1b4e, 0x1b4f,
  0x1b7f, 0x1b7f, 0x1c89, 0x1c8a, 0x20c1, 0x20c1, 0x2427, 0x2429, 0x2b96, 0x2b96, 0x31e4, 0x31e5, 0xa7cb,
  0xa7cf, 0xa7d2, 0xa7d2, 0xa7d4, 0xa7d4, 0xa7da, 0xa7dc, 0xa7f1, 0xa7f1, 0xfbc3, 0xfbd2, 0xfd90, 0xfd91,
  0xfdc8, 0xfdce, 0x105c0, 0x105f3, 0x10940, 0x10959, 0x10d40, 0x10d65, 0x10d69, 0x10d85, 0x10d8e, 0x10d8f,
  0x10ec2, 0x10ec7, 0x10ed0, 0x10ed8, 0x10efa, 0x10efc, 0x11380, 0x11389, 0x1138b, 0x1138b, 0x1138e, 0x1138e,
  0x11390, 0x113b5, 0x113b7, 0x113c0, 0x113c2, 0x113c2, 0x113c5, 0x113c5, 0x113c7, 0x113ca, 0x113cc, 0x113d5,
  0x113d7, 0x113d8, 0x113e1, 0x113e2, 0x116d0, 0x116e3, 0x11b60, 0x11b67, 0x11bc0, 0x11be1, 0x11bf0, 0x11bf9,
  0x11db0, 0x11ddb, 0x11de0, 0x11de9, 0x11f5a, 0x11f5a, 0x13460, 0x143fa, 0x16100, 0x16139, 0x16d40, 0x16d79,
  0x16ea0, 0x16eb8, 0x16ebb, 0x16ed3, 0x16ff2, 0x16ff6, 0x187f8, 0x187ff, 0x18cff, 0x18cff, 0x18d09, 0x18d1e,
  0x18d80, 0x18df2, 0x1cc00, 0x1ccfc, 0x1cd00, 0x1ceb3, 0x1ceba, 0x1ced0, 0x1cee0, 0x1cef0, 0x1e5d0, 0x1e5fa,
  0x1e5ff, 0x1e5ff, 0x1e6c0, 0x1e6de, 0x1e6e0, 0x1e6f5, 0x1e6fe, 0x1e6ff, 0x1f6d8, 0x1f6d8, 0x1f777, 0x1f77a,
  0x1f8b2, 0x1f8bb, 0x1f8c0, 0x1f8c1, 0x1f8d0, 0x1f8d8, 0x1fa54, 0x1fa57, 0x1fa89, 0x1fa8a, 0x1fa8e, 0x1fa8f,
  0x1fabe, 0x1fabe, 0x1fac6, 0x1fac6, 0x1fac8, 0x1fac8, 0x1facd, 0x1facd, 0x1fadc, 0x1fadc, 0x1fadf, 0x1fadf,
  0x1fae9, 0x1faea, 0x1faef, 0x1faef, 0x1fbcb, 0x1fbef, 0x1fbfa, 0x1fbfa, 0x2b73a, 0x2b73f, 0x2cea2, 0x2cead,
  0x323b0, 0x33479,
];

const IS_L = /\p{L}/u;
const IS_N = /\p{N}/u;
const IS_P = /\p{P}/u;
const IS_M = /\p{M}/u;
const IS_S = /\p{S}/u;

function lateAssigned(cp: number): boolean {
  let lo = 0;
  let hi = LATE_ASSIGNED.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < LATE_ASSIGNED[2 * mid]) hi = mid - 1;
    else if (cp > LATE_ASSIGNED[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

function computeCat(cp: number): Cat {
  if ((cp >= 0x2000 && cp <= 0x200a) || WIDE_SPACES.has(cp)) return Cat.Space;
  if (lateAssigned(cp)) return Cat.Other;
  const s = String.fromCodePoint(cp);
  if (IS_L.test(s)) return Cat.Letter;
  if (IS_N.test(s)) return Cat.Number;
  if (IS_P.test(s)) return Cat.Punct;
  if (IS_M.test(s)) return Cat.Mark;
  if (IS_S.test(s)) return Cat.Symbol;
  return Cat.Other;
}

/** Per code point, computed on first use (0 = not yet). */
let catCache: Uint8Array | undefined;

/** The collapsed byte of a code point: itself below 128, else its category's byte. */
export function collapsedByte(cp: number): number {
  if (cp < 128) return cp;
  catCache ??= new Uint8Array(0x110000);
  let c = catCache[cp];
  if (c === 0) {
    c = computeCat(cp);
    catCache[cp] = c;
  }
  return c;
}

/** A fragment as code points: `collapsed` has one char per code point, `starts` its UTF-16 offsets (+ end). */
interface Collapsed {
  collapsed: string;
  starts: Int32Array;
}

function collapse(text: string): Collapsed {
  const starts = new Int32Array(text.length + 1);
  const chars: number[] = [];
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i) ?? 0;
    starts[chars.length] = i;
    chars.push(collapsedByte(cp));
    i += cp > 0xffff ? 2 : 1;
  }
  starts[chars.length] = text.length;
  let collapsed = '';
  for (let k = 0; k < chars.length; k += 8192) collapsed += String.fromCharCode(...chars.slice(k, k + 8192));
  return { collapsed, starts: starts.subarray(0, chars.length + 1) };
}

// The gpt-4o regex after llama.cpp's rewrite: \p{L} -> [\xD2A-Za-z], \p{N} -> [\xD10-9].
const L = '\\xD2A-Za-z';
const N = '\\xD10-9';
const CONTRACTION = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?";
const UPPERISH = `(?:(?=[${L}])[^a-z])`;
const LOWERISH = `(?:(?=[${L}])[^A-Z])`;
const GPT4O = new RegExp(
  [
    `[^\\r\\n${L}${N}]?${UPPERISH}*${LOWERISH}+${CONTRACTION}`,
    `[^\\r\\n${L}${N}]?${UPPERISH}+${LOWERISH}*${CONTRACTION}`,
    `[${N}]{1,3}`,
    ` ?[^\\s${L}${N}]+[\\r\\n/]*`,
    '\\s*[\\r\\n]+',
    '\\s+(?!\\S)',
    '\\s+',
  ].join('|'),
  'g',
);

/** gpt-4o words of one raw-text fragment, as substrings of it. */
export function splitGpt4o(text: string): string[] {
  const { collapsed, starts } = collapse(text);
  const words: string[] = [];
  const push = (a: number, b: number): void => {
    if (b > a) words.push(text.slice(starts[a], starts[b]));
  };
  let last = 0;
  GPT4O.lastIndex = 0;
  for (let m = GPT4O.exec(collapsed); m; m = GPT4O.exec(collapsed)) {
    push(last, m.index); // text no alternative matched stays one word, as in llama.cpp
    push(m.index, m.index + m[0].length);
    last = m.index + m[0].length;
  }
  push(last, collapsed.length);
  return words;
}

/**
 * llama3 words of one raw-text fragment: the regex
 * `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
 * as llama.cpp's hand-written matcher applies it, on its category flags.
 */
export function splitLlama3(text: string): string[] {
  const { collapsed, starts } = collapse(text);
  const n = collapsed.length;
  const at = (p: number): number => (p < n ? collapsed.charCodeAt(p) : -1);
  const isL = (p: number): boolean => {
    const c = at(p);
    return c === Cat.Letter || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  };
  const isN = (p: number): boolean => {
    const c = at(p);
    return c === Cat.Number || (c >= 48 && c <= 57);
  };
  const isWs = (p: number): boolean => {
    const c = at(p);
    return c === 32 || (c >= 9 && c <= 13);
  };
  const lower = (p: number): number => {
    const c = at(p);
    return c >= 65 && c <= 90 ? c + 32 : c;
  };
  const words: string[] = [];
  let prev = 0;
  const cut = (end: number): number => {
    const len = end - prev;
    if (len > 0) words.push(text.slice(starts[prev], starts[end]));
    prev = end;
    return len;
  };
  for (let pos = 0; pos < n; ) {
    const c = at(pos);
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (c === 39 && pos + 1 < n) {
      const c1 = lower(pos + 1);
      if (c1 === 115 || c1 === 116 || c1 === 109 || c1 === 100) {
        pos += cut(pos + 2);
        continue;
      }
      if (pos + 2 < n) {
        const c2 = lower(pos + 2);
        if ((c1 === 114 && c2 === 101) || (c1 === 118 && c2 === 101) || (c1 === 108 && c2 === 108)) {
          pos += cut(pos + 3);
          continue;
        }
      }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(c === 13 || c === 10 || isN(pos)) && (isL(pos) || isL(pos + 1))) {
      pos++;
      while (isL(pos)) pos++;
      cut(pos);
      continue;
    }
    // \p{N}{1,3}
    if (isN(pos)) {
      let ini = pos;
      while (isN(pos)) {
        if (++pos - ini >= 3) {
          cut(pos);
          ini = pos;
        }
      }
      cut(pos);
      continue;
    }
    // <space>?[^\s\p{L}\p{N}]+[\r\n]*
    const q = c === 32 ? pos + 1 : pos;
    const other = (p: number): boolean => p < n && !isWs(p) && !isL(p) && !isN(p);
    if (other(q)) {
      pos = q;
      while (other(pos)) pos++;
      while (at(pos) === 13 || at(pos) === 10) pos++;
      cut(pos);
      continue;
    }
    let nWs = 0;
    let lastNl = 0;
    while (isWs(pos + nWs)) {
      const c2 = at(pos + nWs);
      if (c2 === 13 || c2 === 10) lastNl = pos + nWs + 1;
      nWs++;
    }
    // \s*[\r\n]+
    if (lastNl > 0) {
      pos = lastNl;
      cut(pos);
      continue;
    }
    // \s+(?!\S)
    if (nWs > 1 && pos + nWs < n) {
      pos += nWs - 1;
      cut(pos);
      continue;
    }
    // \s+
    if (nWs > 0) {
      pos += nWs;
      cut(pos);
      continue;
    }
    cut(++pos);
  }
  return words;
}

/** Code point ranges [start, end) of a collapsed string. */
type Ranges = [number, number][];

function rangesToWords(text: string, starts: Int32Array, ranges: Ranges): string[] {
  return ranges.filter(([a, b]) => b > a).map(([a, b]) => text.slice(starts[a], starts[b]));
}

/** Splits every range at the matches of `re` (global): matches and the text between them. */
function splitByRegex(collapsed: string, ranges: Ranges, re: RegExp): Ranges {
  const out: Ranges = [];
  for (const [a, b] of ranges) {
    const s = collapsed.slice(a, b);
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(s); m; m = re.exec(s)) {
      if (m.index > last) out.push([a + last, a + m.index]);
      out.push([a + m.index, a + m.index + m[0].length]);
      last = m.index + m[0].length;
    }
    if (last < s.length) out.push([a + last, b]);
  }
  return out;
}

/**
 * GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (and then
 * `\s+`) on each range, as llama.cpp's hand-written matcher applies it.
 */
function gpt2Ranges(collapsed: string, ranges: Ranges): Ranges {
  const out: Ranges = [];
  for (const [a, b] of ranges) {
    const at = (p: number): number => (p >= a && p < b ? collapsed.charCodeAt(p) : -1);
    const isL = (p: number): boolean => {
      const c = at(p);
      return c === Cat.Letter || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    };
    const isN = (p: number): boolean => {
      const c = at(p);
      return c === Cat.Number || (c >= 48 && c <= 57);
    };
    const isWs = (p: number): boolean => {
      const c = at(p);
      return c === 32 || (c >= 9 && c <= 13);
    };
    const other = (p: number): boolean => at(p) >= 0 && !isWs(p) && !isL(p) && !isN(p);
    let prev = a;
    const cut = (end: number): number => {
      const len = end - prev;
      if (len > 0) out.push([prev, end]);
      prev = end;
      return len;
    };
    for (let pos = a; pos < b; ) {
      const c = at(pos);
      // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
      if (c === 39 && pos + 1 < b) {
        const c1 = at(pos + 1);
        if (c1 === 115 || c1 === 116 || c1 === 109 || c1 === 100) {
          pos += cut(pos + 2);
          continue;
        }
        if (pos + 2 < b) {
          const c2 = at(pos + 2);
          if ((c1 === 114 && c2 === 101) || (c1 === 118 && c2 === 101) || (c1 === 108 && c2 === 108)) {
            pos += cut(pos + 3);
            continue;
          }
        }
      }
      const q = c === 32 ? pos + 1 : pos;
      // <space>?\p{L}+, <space>?\p{N}+, <space>?[^\s\p{L}\p{N}]+
      const run = isL(q) ? isL : isN(q) ? isN : other(q) ? other : undefined;
      if (run) {
        pos = q;
        while (run(pos)) pos++;
        cut(pos);
        continue;
      }
      let nWs = 0;
      while (isWs(pos + nWs)) nWs++;
      // \s+(?!\S)
      if (nWs > 1 && at(pos + nWs) >= 0) {
        pos += nWs - 1;
        cut(pos);
        continue;
      }
      // \s+
      if (nWs > 0) {
        pos += nWs;
        cut(pos);
        continue;
      }
      cut(++pos);
    }
  }
  return out;
}

/** gpt-2 (and phi-2) words of one raw-text fragment. */
export function splitGpt2(text: string): string[] {
  const { collapsed, starts } = collapse(text);
  return rangesToWords(text, starts, gpt2Ranges(collapsed, [[0, collapsed.length]]));
}

// llama.cpp's "default" chain after its rewrite: \p{P} -> [\xD3 + ASCII punctuation], \p{N} -> [\xD10-9].
const DEFAULT_PUNCT = /[\xD3!-#%-*,-/:-;?-@[-\]_{}$+<=>^~|]+/g;
const DEFAULT_NUMBERS = /[\xD10-9]+/g;
const DEFAULT_THREE_DIGITS = /[0-9][0-9][0-9]/g;

/**
 * llama.cpp's "default" pre-tokenizer: `[\p{P}\$\+<=>\^~\|]+`, then GPT-2's split, then
 * `\p{N}+`, then `[0-9][0-9][0-9]`, each splitting every piece the previous one left.
 */
export function splitDefault(text: string): string[] {
  const { collapsed, starts } = collapse(text);
  let ranges: Ranges = [[0, collapsed.length]];
  ranges = splitByRegex(collapsed, ranges, DEFAULT_PUNCT);
  ranges = gpt2Ranges(collapsed, ranges);
  ranges = splitByRegex(collapsed, ranges, DEFAULT_NUMBERS);
  ranges = splitByRegex(collapsed, ranges, DEFAULT_THREE_DIGITS);
  return rangesToWords(text, starts, ranges);
}


// tiktoken's cl100k_base split, run as written on the text itself (no collapsing): tiktoken
// compiles it with Rust's fancy-regex, whose `\s` is Unicode White_Space (JS's `\s` differs:
// it adds U+FEFF and lacks U+0085), so the class is spelled out. `(?i:'s|'t|'re|'ve|'m|'ll|'d)`
// is expanded by hand (not every JS engine has `(?i:`), with the one non-ASCII case fold among
// those letters: U+017F LATIN SMALL LETTER LONG S folds to s.
const WS = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const CL100K = new RegExp(
  [
    "'(?:[sS\\u017f]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])",
    '[^\\r\\n\\p{L}\\p{N}]?\\p{L}+',
    '\\p{N}{1,3}',
    ` ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*`,
    `[${WS}]*[\\r\\n]+`,
    `[${WS}]+(?![^${WS}])`,
    `[${WS}]+`,
  ].join('|'),
  'gu',
);

/** cl100k_base words of one raw-text fragment (Phi-3-small), as substrings of it. */
export function splitCl100k(text: string): string[] {
  const words: string[] = [];
  let last = 0;
  CL100K.lastIndex = 0;
  for (let m = CL100K.exec(text); m; m = CL100K.exec(text)) {
    // Every character matches some alternative; a gap could only be text no alternative covers.
    if (m.index > last) words.push(text.slice(last, m.index));
    words.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) words.push(text.slice(last));
  return words;
}
