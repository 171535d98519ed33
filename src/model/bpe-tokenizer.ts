/**
 * GPT-2 byte-level BPE tokenizer, token for token equal to llama.cpp's BPE path
 * (`llama_vocab::impl::tokenize`, `tokenizer_st_partition`, `llm_tokenizer_bpe_session`,
 * `token_to_piece`, `detokenize`), as used by Phi-4-mini (o200k, pre-tokenizer "gpt-4o").
 *
 * Text flows: lone surrogates -> U+FFFD -> special-token partition (shared with the SPM path) ->
 * per raw fragment: pre-tokenizer words (bpe-pretokenize.ts) -> each word's UTF-8 bytes as
 * byte-mapped characters (every byte one printable code point, GPT-2's `bytes_to_unicode`) ->
 * merges by rank -> token ids. No space prefix, no byte fallback tokens: every byte is a token.
 */
import { splitCl100k, splitDefault, splitGpt2, splitGpt4o, splitLlama3 } from './bpe-pretokenize.ts';
import {
  SpecialSplitter, type DecodeOptions, type EncodeOptions, type Segment, type TextTokenizer,
} from './tokenizer.ts';
import { BPE_PRE_TOKENIZERS, TokenAttr, tokenAttrs, type Vocab } from './vocab.ts';

/**
 * GPT-2's byte -> code point map: printable Latin-1 bytes (! to ~, ¡ to ¬, ® to ÿ) map to
 * themselves, the other 68 bytes in order to U+0100, U+0101, ...
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const map = new Array<string>(256);
  const keep = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0x100;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(keep(b) ? b : next++);
  return map;
})();

/** Inverse of BYTE_TO_CHAR, indexed by char code (-1: not a byte char). */
const CHAR_TO_BYTE: Int16Array = (() => {
  const inv = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => { inv[c.charCodeAt(0)] = b; });
  return inv;
})();

/** A string's UTF-8 bytes as byte-mapped characters. */
export function byteEncode(s: string): string {
  let out = '';
  for (const b of utf8.encode(s)) out += BYTE_TO_CHAR[b];
  return out;
}

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);
const CONTROL_OR_UNKNOWN = TokenAttr.CONTROL | TokenAttr.UNKNOWN;
const CACHE_LIMIT = 1 << 16;

export class BpeTokenizer implements TextTokenizer {
  readonly vocab: Vocab;
  readonly attrs: Uint16Array;
  private readonly textToId = new Map<string, number>();
  /** Merge rank by "left right" (byte-mapped texts never contain a space). */
  private readonly ranks = new Map<string, number>();
  private readonly splitter: SpecialSplitter;
  private readonly split: (text: string) => string[];
  /** llama3, cl100k: a word that is itself a token is emitted whole, without merging (llama.cpp `ignore_merges`, tiktoken). */
  private readonly ignoreMerges: boolean;
  /** llama.cpp `clean_spaces` (clean_up_tokenization_spaces): off for gpt-4o, on for the others here. */
  private readonly cleanSpaces: boolean;
  private readonly wordCache = new Map<string, number[]>();
  private readonly pieceCache: (Uint8Array | undefined)[];

  constructor(vocab: Vocab) {
    const pre = vocab.pre ?? '';
    const kind = Object.hasOwn(BPE_PRE_TOKENIZERS, pre) ? BPE_PRE_TOKENIZERS[pre] : undefined;
    if (vocab.model !== 'gpt2' || kind === undefined || vocab.merges === undefined) {
      throw new Error(`BpeTokenizer needs a gpt2 vocabulary with merges and a known pre-tokenizer (got model ${vocab.model}, pre ${vocab.pre})`);
    }
    this.vocab = vocab;
    this.attrs = tokenAttrs(vocab);
    const n = vocab.tokens.length;
    for (let i = 0; i < n; i++) this.textToId.set(vocab.tokens[i], i);
    vocab.merges.forEach((m, rank) => {
      // llama.cpp splits at the first space after the first character; without one the pair is ("", "").
      const at = m.indexOf(' ', 1);
      const key = at < 0 ? ' ' : `${m.slice(0, at)} ${m.slice(at + 1)}`;
      if (!this.ranks.has(key)) this.ranks.set(key, rank); // the first of duplicate merges wins
    });
    this.splitter = new SpecialSplitter(vocab.tokens, this.attrs);
    this.split = { gpt4o: splitGpt4o, llama3: splitLlama3, gpt2: splitGpt2, default: splitDefault, cl100k: splitCl100k }[kind];
    // tiktoken (cl100k) also emits a word that is itself a token whole, and decodes bytes as they are.
    this.ignoreMerges = kind === 'llama3' || kind === 'cl100k';
    this.cleanSpaces = kind !== 'gpt4o' && kind !== 'cl100k';
    this.pieceCache = new Array(n);
  }

  get size(): number {
    return this.vocab.tokens.length;
  }

  idOf(text: string): number | undefined {
    return this.textToId.get(text);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.encodeSegments([{ text, special: opts.parseSpecial ?? false }], { addSpecial: opts.addSpecial });
  }

  /** As `Tokenizer.encodeSegments`: specials only inside `special` segments; BOS/EOS per the vocab. */
  encodeSegments(segments: readonly Segment[], opts: { addSpecial?: boolean } = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const out: number[] = [];
    if (addSpecial && this.vocab.addBos) out.push(this.vocab.bosId);
    const { text, frags } = this.splitter.split(segments);
    for (const f of frags) {
      if (f.tok >= 0) out.push(f.tok);
      else for (const word of this.split(text.slice(f.s, f.e))) this.encodeWord(byteEncode(word), out);
    }
    if (addSpecial && this.vocab.addEos) out.push(this.vocab.eosId);
    return out;
  }

  /** One byte-mapped word -> ids, through the per-word cache. */
  private encodeWord(word: string, out: number[]): void {
    let ids = this.wordCache.get(word);
    if (ids === undefined) {
      ids = this.bpe(word);
      if (this.wordCache.size >= CACHE_LIMIT) this.wordCache.clear();
      this.wordCache.set(word, ids);
    }
    for (const id of ids) out.push(id);
  }

  /**
   * `llm_tokenizer_bpe_session::tokenize` for one word: symbols start as single characters;
   * repeatedly merge the adjacent pair of lowest rank, ties to the leftmost, through a min-heap
   * of candidate pairs as llama.cpp does (O(n log n): a word can be a 50,000-space run). A
   * popped pair is stale when either side has grown or been absorbed since it was pushed
   * (symbols only grow, so an unchanged length means unchanged text). A final symbol that is not
   * a token falls back to the tokens of its single ASCII characters, as llama.cpp's one-byte
   * lookups do (its other bytes find nothing and are dropped).
   */
  private bpe(word: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.textToId.get(word);
      if (whole !== undefined) return [whole];
    }
    // Byte-mapped characters are all in the BMP: symbol i starts at word[i].
    const n = word.length;
    const len = new Int32Array(n).fill(1);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new PairHeap();
    const push = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const rank = this.ranks.get(`${word.substr(l, len[l])} ${word.substr(r, len[r])}`);
      if (rank !== undefined) heap.push(rank, l, r, len[l], len[r]);
    };
    for (let i = 0; i + 1 < n; i++) push(i, i + 1);
    while (heap.size > 0) {
      const { left: l, right: r, lenL, lenR } = heap.pop();
      if (len[l] !== lenL || len[r] !== lenR || lenL === 0 || lenR === 0) continue;
      len[l] += len[r];
      len[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      push(prev[l], l);
      push(l, next[l]);
    }
    const ids: number[] = [];
    for (let i = 0; i !== -1 && n > 0; i = next[i]) {
      const sym = word.substr(i, len[i]);
      const id = this.textToId.get(sym);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      for (const ch of sym) {
        const b = ch.charCodeAt(0) < 0x80 ? this.textToId.get(ch) : undefined;
        if (b !== undefined) ids.push(b);
      }
    }
    return ids;
  }

  /**
   * `token_to_piece` for a BPE vocab: nothing for CONTROL/UNKNOWN unless `special`;
   * USER_DEFINED/CONTROL/UNKNOWN as their literal text; NORMAL through the inverse byte map
   * (a character outside it becomes llama.cpp's "[UNK_BYTE_0x..]" marker); BYTE (`<0xXX>`) as
   * its byte; anything else (UNUSED, UNDEFINED) as nothing.
   */
  pieceBytes(id: number, special: boolean): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.size - 1})`);
    }
    const attr = this.attrs[id];
    if (!special && attr & CONTROL_OR_UNKNOWN) return EMPTY;
    let p = this.pieceCache[id];
    if (p === undefined) {
      const text = this.vocab.tokens[id];
      if (attr & (CONTROL_OR_UNKNOWN | TokenAttr.USER_DEFINED)) p = utf8.encode(text);
      else if (attr & TokenAttr.NORMAL) p = unmapBytes(text);
      else if (attr & TokenAttr.BYTE) p = Uint8Array.of(parseInt(text.slice(3, 5), 16) & 0xff);
      else p = EMPTY;
      this.pieceCache[id] = p;
    }
    return p;
  }

  /**
   * llama.cpp `detokenize`: piece bytes joined (a leading BOS, and a trailing EOS when the vocab
   * adds one, dropped with `removeSpecial`), cleaned of tokenization spaces where the vocab asks
   * for it, as UTF-8 (invalid sequences -> U+FFFD).
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const special = opts.unparseSpecial ?? false;
    let start = 0;
    let end = ids.length;
    if (opts.removeSpecial && this.vocab.addBos && end > 0 && ids[0] === this.vocab.bosId) start = 1;
    if (opts.removeSpecial && this.vocab.addEos && end > start && ids[end - 1] === this.vocab.eosId) end--;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = start; i < end; i++) {
      const p = this.pieceBytes(ids[i], special);
      parts.push(p);
      total += p.length;
    }
    let bytes: Uint8Array = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      bytes.set(p, o);
      o += p.length;
    }
    if (this.cleanSpaces) bytes = cleanTokenizationSpaces(bytes);
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  }
}

/** `llama_decode_text`: byte-mapped token text -> bytes. */
function unmapBytes(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    const b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    if (b >= 0) {
      out.push(b);
      continue;
    }
    const hex = [...utf8.encode(ch)].map((x) => x.toString(16).padStart(2, '0')).join('');
    out.push(...utf8.encode(`[UNK_BYTE_0x${hex}${text}]`));
  }
  return Uint8Array.from(out);
}

const SP = 0x20;
const QUOTE = 0x27;

/**
 * llama.cpp's `clean_spaces` passes over the detokenized bytes: drop the space before
 * "?", "!", ".", ","; turn " ' " into "'"; drop the space before "'s", "'m", "'re", "'ve".
 */
function cleanTokenizationSpaces(t: Uint8Array): Uint8Array {
  const a = Array.from(t);
  // 1: " ?", " !", " .", " ,"
  let out: number[] = a.length ? [a[0]] : [];
  for (let i = 1; i < a.length; i++) {
    const x = a[i];
    if (a[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) out.pop();
    out.push(x);
  }
  // 2: " ' " -> "'". llama.cpp overwrites the skipped space with a NUL in place, so the byte
  // after it then has a NUL, not a space, before it.
  const b = out;
  out = b.length ? [b[0]] : [];
  let prevIsNul = false;
  for (let i = 1; i < b.length; i++) {
    const x = b[i];
    const prevSpace = !prevIsNul && b[i - 1] === SP;
    prevIsNul = false;
    if (x === QUOTE && i + 1 < b.length && prevSpace && b[i + 1] === SP) {
      out.pop();
      out.push(x);
      i++;
      prevIsNul = true;
      continue;
    }
    out.push(x);
  }
  // 3: " 's", " 'm", " 're", " 've"
  const c = out;
  out = c.length ? [c[0]] : [];
  for (let i = 1; i < c.length; i++) {
    const x = c[i];
    if (c[i - 1] === SP && x === QUOTE && i + 1 < c.length) {
      const x1 = c[i + 1];
      const x2 = i + 2 < c.length ? c[i + 2] : -1;
      if (x1 === 0x73 || x1 === 0x6d || (x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) out.pop();
    }
    out.push(x);
  }
  return Uint8Array.from(out);
}

/** Min-heap of candidate merges by (rank, left index), as parallel arrays. */
class PairHeap {
  private rank: number[] = [];
  private left: number[] = [];
  private right: number[] = [];
  private lenL: number[] = [];
  private lenR: number[] = [];

  get size(): number {
    return this.rank.length;
  }

  push(rank: number, left: number, right: number, lenL: number, lenR: number): void {
    this.rank.push(rank);
    this.left.push(left);
    this.right.push(right);
    this.lenL.push(lenL);
    this.lenR.push(lenR);
    let i = this.rank.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): { left: number; right: number; lenL: number; lenR: number } {
    const top = { left: this.left[0], right: this.right[0], lenL: this.lenL[0], lenR: this.lenR[0] };
    const last = this.rank.length - 1;
    this.swap(0, last);
    this.rank.pop();
    this.left.pop();
    this.right.pop();
    this.lenL.pop();
    this.lenR.pop();
    let i = 0;
    for (;;) {
      const a = 2 * i + 1;
      if (a >= last) break;
      const c = a + 1 < last && this.before(a + 1, a) ? a + 1 : a;
      if (!this.before(c, i)) break;
      this.swap(i, c);
      i = c;
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    return this.rank[a] < this.rank[b] || (this.rank[a] === this.rank[b] && this.left[a] < this.left[b]);
  }

  private swap(a: number, b: number): void {
    PairHeap.swapIn(this.rank, a, b);
    PairHeap.swapIn(this.left, a, b);
    PairHeap.swapIn(this.right, a, b);
    PairHeap.swapIn(this.lenL, a, b);
    PairHeap.swapIn(this.lenR, a, b);
  }

  private static swapIn(arr: number[], a: number, b: number): void {
    const t = arr[a];
    arr[a] = arr[b];
    arr[b] = t;
  }
}
