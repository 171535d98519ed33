/**
 * A small GPT-2 byte-level BPE vocabulary for tests and test models, learned here on a seeded
 * corpus (`textCorpus`) split by the gpt-4o pre-tokenizer: all 256 byte tokens, `SMALL_MERGES`
 * merges (most frequent adjacent pair first, ties to the smaller pair text), Phi-4-mini's chat
 * tokens and a few odd ones (a USER_DEFINED token, an UNUSED pad). Kept apart from bpe-vocab.ts
 * because it needs the corpus generators of bench-tokenizer.ts, which benchmarks bpe-vocab.ts.
 */
import { splitGpt4o } from '../src/model/bpe-pretokenize.ts';
import { BYTE_TO_CHAR, byteEncode } from '../src/model/bpe-tokenizer.ts';
import { TokenType } from '../src/model/vocab.ts';
import { textCorpus } from './bench-tokenizer.ts';
import { PHI4_MINI_CHAT_TEMPLATE, type BpeVocabData } from './bpe-vocab.ts';

export const SMALL_MERGES = 700;
const SMALL_SEED = 20260601;

let smallCached: BpeVocabData | undefined;

/** The generated small vocabulary (memoized). */
export function bpeSmallVocab(): BpeVocabData {
  if (smallCached) return smallCached;
  // Word counts of the corpus, each word as its list of byte-mapped symbols.
  const counts = new Map<string, number>();
  for (const { text } of textCorpus(SMALL_SEED, 400)) {
    for (const w of splitGpt4o(text.replace(/<\|[a-z_/]+\|>/g, ''))) {
      const m = byteEncode(w);
      counts.set(m, (counts.get(m) ?? 0) + 1);
    }
  }
  const words = [...counts].map(([w, c]) => ({ syms: Array.from(w), c }));
  const merges: string[] = [];
  const merged: string[] = [];
  for (let k = 0; k < SMALL_MERGES; k++) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + c);
      }
    }
    let best = '';
    let bestCount = 0;
    for (const [key, c] of pairs) if (c > bestCount || (c === bestCount && key < best)) [best, bestCount] = [key, c];
    if (bestCount < 2) break;
    const [a, b] = best.split(' ');
    merges.push(best);
    merged.push(a + b);
    for (const w of words) {
      const s = w.syms;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) s.splice(i, 2, a + b);
    }
  }
  const specials: [string, number][] = [
    ['<|endoftext|>', TokenType.CONTROL], ['<|assistant|>', TokenType.CONTROL], ['<|end|>', TokenType.CONTROL],
    ['<|user|>', TokenType.CONTROL], ['<|system|>', TokenType.CONTROL], ['<|tag|>', TokenType.USER_DEFINED],
    ['[PAD_UNUSED]', TokenType.UNUSED],
    // llama.cpp's load-time overrides: "unused" in a control token's text adds UNUSED; gpt-oss
    // markup becomes USER_DEFINED whatever its stored type.
    ['<|unused_0|>', TokenType.CONTROL], ['<|channel|>', TokenType.CONTROL],
  ];
  const tokens = [...BYTE_TO_CHAR, ...merged, ...specials.map(([t]) => t)];
  const types = new Int32Array(tokens.length).fill(TokenType.NORMAL);
  specials.forEach(([, t], i) => { types[256 + merged.length + i] = t; });
  const eot = 256 + merged.length;
  smallCached = {
    tokens, types, merges, pre: 'gpt-4o',
    bosId: eot, eosId: eot, padId: eot, addBos: false,
    chatTemplate: PHI4_MINI_CHAT_TEMPLATE, name: 'BPE small test',
  };
  return smallCached;
}
