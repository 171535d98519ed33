/**
 * SentencePiece-BPE tokenizer, token for token equal to llama.cpp's SPM path
 * (`llama_vocab::impl::tokenize`, `tokenizer_st_partition`, `llm_tokenizer_spm_session`;
 * PHI3.md 6.2, 6.3, 6.5).
 *
 * Text flows: lone surrogates -> U+FFFD (what Node's UTF-8 encoder hands llama.cpp) ->
 * special-token partition -> per text fragment: space prefix, " " -> "▁", score-ordered merges,
 * byte fallback.
 *
 * llama.cpp works on UTF-8 bytes, we work on UTF-16 code units. That is equivalent here:
 * after the surrogate fix every string is well-formed, token texts are well-formed, and
 * substring matches and merges then always fall on code-point boundaries.
 */
import { SPECIAL_ATTRS, TokenAttr, tokenAttrs, type Vocab } from './vocab.ts';

export interface EncodeOptions {
  /** Add BOS when the vocab asks for it (`tokenizer.ggml.add_bos_token`). Default true. */
  addSpecial?: boolean;
  /** Turn CONTROL/UNKNOWN token text (e.g. `<|end|>`) into those tokens. Default false. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop a leading BOS (then keep the first token's leading space, as llama.cpp does). */
  removeSpecial?: boolean;
  /** Render CONTROL/UNKNOWN tokens as their text instead of nothing. */
  unparseSpecial?: boolean;
}

/** Text whose CONTROL/UNKNOWN token texts may (`special`) or may not become those tokens. */
export interface Segment {
  text: string;
  special: boolean;
}

/**
 * What the rest of the app needs of a tokenizer, SentencePiece (`Tokenizer`) or GPT-2 byte-level
 * BPE (`BpeTokenizer`, bpe-tokenizer.ts); `createTokenizer` (create-tokenizer.ts) picks one.
 */
export interface TextTokenizer {
  readonly vocab: Vocab;
  /** llama.cpp token attributes (TokenAttr bits), after its load-time overrides. */
  readonly attrs: Uint16Array;
  readonly size: number;
  /** Token id of an exact token text, if any. */
  idOf(text: string): number | undefined;
  encode(text: string, opts?: EncodeOptions): number[];
  encodeSegments(segments: readonly Segment[], opts?: { addSpecial?: boolean }): number[];
  /** The bytes token `id` decodes to (llama.cpp `token_to_piece`, no lstrip). */
  pieceBytes(id: number, special: boolean): Uint8Array;
  decode(ids: readonly number[], opts?: DecodeOptions): string;
}

/** A partition fragment: a token (`tok >= 0`) or the raw text `[s, e)` (`tok === -1`). */
export interface Fragment {
  tok: number;
  s: number;
  e: number;
}

const SPACE_MARK = '\u2581'; // ▁
const CONTROL_OR_UNKNOWN = TokenAttr.CONTROL | TokenAttr.UNKNOWN;
const CACHE_LIMIT = 1 << 16;

/** C `isspace` in the "C" locale: space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** Lone surrogates -> U+FFFD, one unit for one unit (so offsets are kept). */
export function toWellFormed(s: string): string {
  if (!/[\uD800-\uDFFF]/.test(s)) return s;
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

const utf8 = new TextEncoder();

/**
 * Special-token handling shared by both tokenizers: the candidate list and
 * `tokenizer_st_partition` over segments (see `Tokenizer.encodeSegments`).
 */
export class SpecialSplitter {
  /** Special-token candidates, longest UTF-8 text first, as llama.cpp sorts them. Ties go by id;
   *  llama.cpp's std::sort leaves them unordered, which matters only if two equal-length
   *  candidates can overlap in text (no two in Phi-3's or o200k's special tokens can). */
  private readonly specials: number[] = [];

  constructor(private readonly tokens: readonly string[], private readonly attrs: Uint16Array) {
    for (let i = 0; i < tokens.length; i++) if (attrs[i] & SPECIAL_ATTRS && tokens[i].length > 0) this.specials.push(i);
    const bytes = new Map(this.specials.map((id) => [id, utf8.encode(tokens[id]).length]));
    this.specials.sort((a, b) => (bytes.get(b) ?? 0) - (bytes.get(a) ?? 0) || a - b);
  }

  /**
   * The joined, well-formed text of `segments` and its fragments: special tokens, and raw text
   * between them. CONTROL/UNKNOWN token text becomes a token only where it lies wholly inside a
   * `special` segment; USER_DEFINED token text always does.
   */
  split(segments: readonly Segment[]): { text: string; frags: Fragment[] } {
    const text = toWellFormed(segments.map((s) => s.text).join(''));
    if (text.length === 0) return { text, frags: [] };
    // specialEnd[i] > 0: position i lies in a special segment that ends at specialEnd[i].
    let allSpecial = true;
    let noneSpecial = true;
    for (const s of segments) {
      if (s.text.length === 0) continue;
      if (s.special) noneSpecial = false;
      else allSpecial = false;
    }
    let specialEnd: Uint32Array | undefined;
    if (!allSpecial && !noneSpecial) {
      specialEnd = new Uint32Array(text.length);
      let pos = 0;
      for (const s of segments) {
        if (s.special) specialEnd.fill(pos + s.text.length, pos, pos + s.text.length);
        pos += s.text.length;
      }
    }
    const mayBeSpecial = (start: number, end: number): boolean =>
      allSpecial || (specialEnd !== undefined && specialEnd[start] >= end);
    return { text, frags: this.partition(text, noneSpecial, mayBeSpecial) };
  }

  /**
   * `tokenizer_st_partition`: for each special token, longest first, split every raw-text
   * fragment at its leftmost non-overlapping occurrences; RSTRIP/LSTRIP drop C-isspace
   * characters next to the token. CONTROL/UNKNOWN tokens are skipped when `textOnly`, and a
   * match is taken only if `mayBeSpecial(start, end)`; USER_DEFINED-only tokens always match.
   */
  private partition(text: string, textOnly: boolean, mayBeSpecial: (s: number, e: number) => boolean): Fragment[] {
    let frags: Fragment[] = [{ tok: -1, s: 0, e: text.length }];
    for (const id of this.specials) {
      const attr = this.attrs[id];
      const controlish = (attr & CONTROL_OR_UNKNOWN) !== 0;
      if (controlish && textOnly) continue;
      const needle = this.tokens[id];
      const len = needle.length;
      // Next occurrence at or after some position; fragments are visited left to right, so
      // one cursor over the whole text keeps each token's search linear.
      let next = text.indexOf(needle);
      if (next < 0) continue;
      const out: Fragment[] = [];
      for (const f of frags) {
        if (f.tok >= 0 || next < 0 || next + len > f.e) {
          out.push(f);
          continue;
        }
        let base = f.s;
        const end = f.e;
        if (next < base) next = text.indexOf(needle, base);
        while (next >= 0 && next + len <= end) {
          const m = next;
          if (controlish && !mayBeSpecial(m, m + len)) {
            next = text.indexOf(needle, m + 1);
            continue;
          }
          let le = m;
          if (attr & TokenAttr.LSTRIP) while (le > base && isSpace(text.charCodeAt(le - 1))) le--;
          if (le > base) out.push({ tok: -1, s: base, e: le });
          out.push({ tok: id, s: m, e: m + len });
          let rs = m + len;
          if (attr & TokenAttr.RSTRIP) while (rs < end && isSpace(text.charCodeAt(rs))) rs++;
          base = rs;
          next = text.indexOf(needle, rs);
        }
        if (base < end) out.push({ tok: -1, s: base, e: end });
      }
      frags = out;
    }
    return frags;
  }
}

export class Tokenizer implements TextTokenizer {
  readonly vocab: Vocab;
  /** llama.cpp token attributes (TokenAttr bits), after its load-time overrides. */
  readonly attrs: Uint16Array;
  private readonly pieceToId = new Map<string, number>();
  private readonly splitter: SpecialSplitter;
  private readonly byteToId: Int32Array;
  /**
   * Whether a fragment may be cut before every "▁" that follows a non-"▁" character. A merge
   * across such a cut would create a piece containing "x▁" (x not ▁); if no token contains one,
   * no merge ever crosses the cut, so the chunks merge independently, in the same relative
   * order (the tie-break by left index is preserved within a chunk). True for Llama-2's vocab.
   */
  private readonly splitAtSpaces: boolean;
  private readonly chunkCache = new Map<string, number[]>();
  private readonly pieceCache: (Uint8Array | undefined)[];
  private readonly spm = new SpmSession();

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    this.attrs = tokenAttrs(vocab);
    const n = vocab.tokens.length;
    // The last id with a given text wins, like llama.cpp's `token_to_id[text] = id` loop.
    for (let i = 0; i < n; i++) this.pieceToId.set(vocab.tokens[i], i);
    this.splitter = new SpecialSplitter(vocab.tokens, this.attrs);
    this.byteToId = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      this.byteToId[b] = this.pieceToId.get(hex) ?? this.pieceToId.get(String.fromCharCode(b)) ?? vocab.unkId;
    }
    this.splitAtSpaces = !vocab.tokens.some((t) => /[^\u2581]\u2581/.test(t));
    this.pieceCache = new Array(n);
  }

  /** Token id of an exact piece text (`▁Hello`, `<|end|>`, `<0x0A>`), if any. */
  idOf(text: string): number | undefined {
    return this.pieceToId.get(text);
  }

  get size(): number {
    return this.vocab.tokens.length;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const parseSpecial = opts.parseSpecial ?? false;
    return this.encodeSegments([{ text, special: parseSpecial }], { addSpecial: opts.addSpecial });
  }

  /**
   * Encodes the concatenation of `segments` as llama.cpp would encode the joined string, except
   * that CONTROL/UNKNOWN token text is only recognised where it lies wholly inside a segment with
   * `special: true`. Text fragments, the space prefix and RSTRIP run across segment seams exactly
   * as on the joined string. This is how chat markup and message content share one encoding.
   */
  encodeSegments(segments: readonly Segment[], opts: { addSpecial?: boolean } = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const out: number[] = [];
    if (addSpecial && this.vocab.addBos) out.push(this.vocab.bosId);
    const { text, frags } = this.splitter.split(segments);
    let isPrevSpecial = true;
    for (const f of frags) {
      if (f.tok >= 0) {
        out.push(f.tok);
        isPrevSpecial = true;
      } else {
        const prefix = this.vocab.addSpacePrefix && isPrevSpecial ? ' ' : '';
        this.encodeFragment((prefix + text.slice(f.s, f.e)).replaceAll(' ', SPACE_MARK), out);
        isPrevSpecial = false;
      }
    }
    if (addSpecial && this.vocab.addEos) out.push(this.vocab.eosId);
    return out;
  }

  /** One escaped text fragment ("▁" for spaces) -> ids, chunk by chunk when that is exact. */
  private encodeFragment(s: string, out: number[]): void {
    if (!this.splitAtSpaces) {
      this.spm.run(s, this, out);
      return;
    }
    let start = 0;
    for (let i = 1; i <= s.length; i++) {
      if (i < s.length && !(s.charCodeAt(i) === 0x2581 && s.charCodeAt(i - 1) !== 0x2581)) continue;
      const chunk = s.slice(start, i);
      start = i;
      let ids = this.chunkCache.get(chunk);
      if (ids === undefined) {
        ids = [];
        this.spm.run(chunk, this, ids);
        if (this.chunkCache.size >= CACHE_LIMIT) this.chunkCache.clear();
        this.chunkCache.set(chunk, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** @internal lookup used by the SPM session. */
  lookup(piece: string): number | undefined {
    return this.pieceToId.get(piece);
  }

  /** @internal byte-fallback tokens of one symbol that is not a piece. */
  pushBytes(symbol: string, out: number[]): void {
    for (const b of utf8.encode(symbol)) out.push(this.byteToId[b]);
  }

  /**
   * The bytes token `id` decodes to (`token_to_piece`): nothing for CONTROL/UNKNOWN unless
   * `special`; USER_DEFINED/CONTROL/UNKNOWN as their literal text; NORMAL with "▁" -> " ";
   * BYTE as its byte; anything else (UNUSED, UNDEFINED) as nothing.
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
      else if (attr & TokenAttr.NORMAL) p = utf8.encode(text.replaceAll(SPACE_MARK, ' '));
      else if (attr & TokenAttr.BYTE) p = Uint8Array.of(parseInt(text.slice(3, 5), 16) & 0xff);
      else p = EMPTY;
      this.pieceCache[id] = p;
    }
    return p;
  }

  /**
   * llama.cpp `detokenize`: concatenated piece bytes as UTF-8 (invalid sequences -> U+FFFD).
   * The first token loses one leading space when the vocab adds a space prefix, unless a BOS
   * was removed (`removeSpecial`), in which case llama.cpp keeps it; `removeSpecial` also drops
   * a trailing EOS when the vocab adds one.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const special = opts.unparseSpecial ?? false;
    let removeSpace = this.vocab.addSpacePrefix;
    let start = 0;
    if (opts.removeSpecial && this.vocab.addBos && ids.length > 0 && ids[0] === this.vocab.bosId) {
      removeSpace = false;
      start = 1;
    }
    let end = ids.length;
    if (opts.removeSpecial && this.vocab.addEos && end > start && ids[end - 1] === this.vocab.eosId) end--;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = start; i < end; i++) {
      let p = this.pieceBytes(ids[i], special);
      if (removeSpace && p.length > 0 && p[0] === 0x20) p = p.subarray(1);
      removeSpace = false;
      parts.push(p);
      total += p.length;
    }
    const bytes = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      bytes.set(p, o);
      o += p.length;
    }
    // ignoreBOM: a leading U+FEFF is text here, not a byte-order mark to drop.
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * `llm_tokenizer_spm_session` over one escaped string: symbols are code points in a linked
 * list; a max-heap of bigrams (by piece score, ties to the smaller left index) merges the best
 * adjacent pair whose concatenation is a piece, skipping stale bigrams by their recorded size.
 * Every merged symbol is a piece, so resegmenting reduces to "piece id, else its UTF-8 bytes".
 * Buffers are reused across calls.
 */
class SpmSession {
  private start = new Int32Array(64);
  private len = new Int32Array(64);
  private prev = new Int32Array(64);
  private next = new Int32Array(64);
  // Heap of bigrams as parallel arrays.
  private hScore = new Float64Array(64);
  private hLeft = new Int32Array(64);
  private hRight = new Int32Array(64);
  private hSize = new Int32Array(64);
  private hN = 0;

  run(s: string, tok: Tokenizer, out: number[]): void {
    if (s.length === 0) return;
    this.reserveSymbols(s.length);
    let n = 0;
    for (let i = 0; i < s.length; ) {
      const c = s.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
      this.start[n] = i;
      this.len[n] = w;
      this.prev[n] = n - 1;
      this.next[n] = n + 1;
      n++;
      i += w;
    }
    this.next[n - 1] = -1;
    this.hN = 0;
    const scores = tok.vocab.scores;
    const tryAdd = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const size = this.len[l] + this.len[r];
      const id = tok.lookup(s.slice(this.start[l], this.start[l] + size));
      if (id === undefined) return;
      this.push(scores[id], l, r, size);
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (this.hN > 0) {
      const l = this.hLeft[0];
      const r = this.hRight[0];
      const size = this.hSize[0];
      this.pop();
      if (this.len[l] === 0 || this.len[r] === 0 || this.len[l] + this.len[r] !== size) continue;
      this.len[l] = size;
      this.len[r] = 0;
      const rn = this.next[r];
      this.next[l] = rn;
      if (rn >= 0) this.prev[rn] = l;
      tryAdd(this.prev[l], l);
      tryAdd(l, rn);
    }
    for (let i = 0; i !== -1; i = this.next[i]) {
      const sym = s.slice(this.start[i], this.start[i] + this.len[i]);
      const id = tok.lookup(sym);
      if (id !== undefined) out.push(id);
      else tok.pushBytes(sym, out);
    }
  }

  private reserveSymbols(n: number): void {
    if (this.start.length >= n) return;
    let cap = this.start.length;
    while (cap < n) cap *= 2;
    this.start = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
  }

  /** a goes before b: higher score, then smaller left index (llama.cpp's comparator). */
  private before(a: number, b: number): boolean {
    const sa = this.hScore[a];
    const sb = this.hScore[b];
    return sa > sb || (sa === sb && this.hLeft[a] < this.hLeft[b]);
  }

  private swap(a: number, b: number): void {
    let t = this.hScore[a]; this.hScore[a] = this.hScore[b]; this.hScore[b] = t;
    t = this.hLeft[a]; this.hLeft[a] = this.hLeft[b]; this.hLeft[b] = t;
    t = this.hRight[a]; this.hRight[a] = this.hRight[b]; this.hRight[b] = t;
    t = this.hSize[a]; this.hSize[a] = this.hSize[b]; this.hSize[b] = t;
  }

  private push(score: number, left: number, right: number, size: number): void {
    if (this.hN === this.hScore.length) {
      const cap = this.hN * 2;
      const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      this.hScore = grow(this.hScore, (k) => new Float64Array(k));
      this.hLeft = grow(this.hLeft, (k) => new Int32Array(k));
      this.hRight = grow(this.hRight, (k) => new Int32Array(k));
      this.hSize = grow(this.hSize, (k) => new Int32Array(k));
    }
    let i = this.hN++;
    this.hScore[i] = score;
    this.hLeft[i] = left;
    this.hRight[i] = right;
    this.hSize[i] = size;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private pop(): void {
    const last = --this.hN;
    if (last === 0) return;
    this.swap(0, last);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const c = r < last && this.before(r, l) ? r : l;
      if (!this.before(c, i)) break;
      this.swap(i, c);
      i = c;
    }
  }
}
