/**
 * tiktoken vocabularies as byte-level BPE: the `.tiktoken` file format, the merges a
 * merges-based BPE needs to reproduce tiktoken's rank-ordered merging, and Phi-3-small's
 * 100,352-token vocabulary (cl100k_base's ranks plus the specials of its
 * `tokenization_phi3_small.py`, src/model/PHI3SMALL.md).
 *
 * A `.tiktoken` file is one line per mergeable token, `base64(token bytes) rank`, ranks 0..n-1 in
 * any order. tiktoken merges the adjacent pair whose concatenation has the lowest rank, so the
 * merge that makes the token of rank r is what BPE over its bytes, with only ranks below r
 * allowed, leaves as its last two parts; listing those merges in rank order gives a merges-based
 * BPE the same order. (tiktoken also emits a word that is itself a token whole, without merging:
 * the cl100k pre-tokenizer's tokenizer does the same.)
 */
import { ModelFormatError } from '../common/errors.ts';
import { BYTE_TO_CHAR } from './bpe-tokenizer.ts';
import { TokenType } from './vocab.ts';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Latin-1 string of bytes (one char per byte): the key form used below. */
function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/**
 * Parses a `.tiktoken` file into token bytes by rank. Refuses a malformed line, a duplicate rank,
 * a duplicate token, or a gap in the ranks, naming the line. `name` goes into the messages.
 */
export function parseTiktoken(text: string, name = 'the .tiktoken file'): Uint8Array[] {
  const byRank: Uint8Array[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    const where = `${name} line ${i + 1}`;
    const f = line.split(' ');
    if (f.length !== 2 || !BASE64.test(f[0]) || f[0].length % 4 !== 0 || !/^(0|[1-9]\d*)$/.test(f[1])) {
      throw new ModelFormatError(`${where} is not "<base64 token> <rank>": ${JSON.stringify(line.slice(0, 80))}`, { field: where });
    }
    const rank = Number(f[1]);
    if (!Number.isSafeInteger(rank) || rank > 0x7fffffff) throw new ModelFormatError(`${where}: rank ${f[1]} is out of range`, { field: where });
    if (byRank[rank] !== undefined) throw new ModelFormatError(`${where}: rank ${rank} appears twice`, { field: where });
    const bytes = decodeBase64(f[0]);
    if (bytes.length === 0) throw new ModelFormatError(`${where}: an empty token`, { field: where });
    const key = latin1(bytes);
    const other = seen.get(key);
    if (other !== undefined) throw new ModelFormatError(`${where}: the token of rank ${rank} repeats the token of rank ${other}`, { field: where });
    seen.set(key, rank);
    byRank[rank] = bytes;
  }
  if (byRank.length === 0) throw new ModelFormatError(`${name} holds no tokens`);
  for (let r = 0; r < byRank.length; r++) {
    if (byRank[r] === undefined) throw new ModelFormatError(`${name}: ranks are not 0..${byRank.length - 1} without gaps (rank ${r} is missing)`, { field: `rank ${r}` });
  }
  return byRank;
}

/** Byte-mapped token text (GPT-2's byte-to-character map) of token bytes. */
export function byteMapped(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += BYTE_TO_CHAR[b[i]];
  return s;
}

/** Runs BPE on `parts` (Latin-1 byte strings) merging only pairs of rank < limit; the final parts. */
function bpeParts(parts: string[], rankOf: Map<string, number>, limit: number): string[] {
  for (;;) {
    let best = -1;
    let bestRank = limit;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rankOf.get(parts[i] + parts[i + 1]);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return parts;
    parts.splice(best, 2, parts[best] + parts[best + 1]);
  }
}

/**
 * Merges ("left right", byte-mapped) in rank order, one per token of two or more bytes. Every
 * single byte must be a token (a byte-level vocabulary), and every longer token must be reached
 * by merging lower-ranked tokens, else the ranks are not a BPE vocabulary and this refuses them.
 */
export function mergesFromRanks(byRank: readonly Uint8Array[], name = 'the vocabulary'): string[] {
  const rankOf = new Map<string, number>();
  const keys = byRank.map(latin1);
  keys.forEach((k, r) => rankOf.set(k, r));
  for (let b = 0; b < 256; b++) {
    if (!rankOf.has(String.fromCharCode(b))) throw new ModelFormatError(`${name} has no token for the byte 0x${b.toString(16).padStart(2, '0')}: not a byte-level BPE vocabulary`);
  }
  const merges: string[] = [];
  for (let r = 0; r < keys.length; r++) {
    const k = keys[r];
    if (k.length < 2) continue;
    const parts = bpeParts(Array.from(k), rankOf, r);
    if (parts.length !== 2) throw new ModelFormatError(`${name}: the token of rank ${r} is not one merge of lower-ranked tokens (${parts.length} parts)`, { field: `rank ${r}` });
    const map = (s: string) => {
      let o = '';
      for (let i = 0; i < s.length; i++) o += BYTE_TO_CHAR[s.charCodeAt(i)];
      return o;
    };
    merges.push(`${map(parts[0])} ${map(parts[1])}`);
  }
  return merges;
}

// ---- Phi-3-small ---------------------------------------------------------------------------

export const PHI3_SMALL_VOCAB_SIZE = 100352;
/** cl100k_base's mergeable tokens: ranks 0..100255. */
export const CL100K_MERGEABLE = 100256;
export const PHI3_SMALL_EOT_ID = 100257;

/** Phi-3-small's specials by id (tokenization_phi3_small.py), the dummies included. */
export function phi3SmallSpecials(): Map<number, string> {
  const m = new Map<number, string>([
    [100256, '<|dummy_id_2|>'], [100257, '<|endoftext|>'], [100258, '<|fim_prefix|>'], [100259, '<|fim_middle|>'],
    [100260, '<|fim_suffix|>'], [100261, '<|system|>'], [100262, '<|user|>'], [100263, '<|assistant|>'],
    [100264, '<|dummy_id_0|>'], [100265, '<|dummy_id_1|>'], [100266, '<|end|>'],
  ]);
  for (let i = 3; i <= 11; i++) m.set(100264 + i, `<|dummy_id_${i}|>`); // 100267..100275
  m.set(100276, '<|endofprompt|>');
  for (let id = 100277; id < PHI3_SMALL_VOCAB_SIZE; id++) m.set(id, `<|dummy_id_${id - 100265}|>`); // 12.. from 100277
  return m;
}

/** The ids masked to -inf in the logits: every dummy token, the three FIM tokens and `<|endofprompt|>`. */
export function phi3SmallDummyIds(): number[] {
  const out: number[] = [];
  for (const [id, text] of phi3SmallSpecials()) {
    if (text.startsWith('<|dummy_id_') || text.startsWith('<|fim_') || text === '<|endofprompt|>') out.push(id);
  }
  return out.sort((a, b) => a - b);
}

export interface Phi3SmallVocab {
  /** Byte-mapped texts for the mergeable ranks, the literal text for the specials. */
  tokens: string[];
  types: Int32Array;
  merges: string[];
  dummyIds: number[];
}

/**
 * Phi-3-small's vocabulary from cl100k_base's ranks (`parseTiktoken` of its
 * `cl100k_base.tiktoken`): ranks 0..100255 NORMAL at their ids, the specials CONTROL.
 */
export function phi3SmallVocab(byRank: readonly Uint8Array[], name = 'cl100k_base.tiktoken'): Phi3SmallVocab {
  if (byRank.length !== CL100K_MERGEABLE) {
    throw new ModelFormatError(`${name} has ${byRank.length} tokens; Phi-3-small's vocabulary is cl100k_base's ${CL100K_MERGEABLE} followed by its specials`);
  }
  const tokens = new Array<string>(PHI3_SMALL_VOCAB_SIZE);
  const types = new Int32Array(PHI3_SMALL_VOCAB_SIZE);
  for (let r = 0; r < byRank.length; r++) {
    tokens[r] = byteMapped(byRank[r]);
    types[r] = TokenType.NORMAL;
  }
  for (const [id, text] of phi3SmallSpecials()) {
    tokens[id] = text;
    types[id] = TokenType.CONTROL;
  }
  return { tokens, types, merges: mergesFromRanks(byRank, name), dummyIds: phi3SmallDummyIds() };
}
