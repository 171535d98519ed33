/**
 * GPT-2 byte-level BPE vocabularies for tests and the test-model generator:
 *
 * - `bpeSmallVocab()` (bpe-small-vocab.ts): a small vocabulary with merges learned on a seeded
 *   corpus.
 * - `o200kVocab()`: Phi-4-mini's layout (PHI4_MINI_VOCAB_SIZE ids): o200k_base's 199,998 tokens
 *   from the npm package js-tiktoken (ranks = ids), merges derived from the ranks, Phi-4-mini's
 *   special tokens at their ids, `[PAD<id>]` (UNUSED) everywhere else, as llama.cpp's converter
 *   pads. The merge of a token of rank r is what BPE on its bytes, with only ranks below r,
 *   leaves as its last two parts (tiktoken's merge order is the rank order).
 *
 * Both come as a `Vocab` (what `vocabFromMetadata` returns) and as tokenizer metadata / a
 * vocab-only GGUF that llama.cpp loads.
 */
import { createRequire } from 'node:module';
import { BYTE_TO_CHAR } from '../src/model/bpe-tokenizer.ts';
import { TokenType, type Vocab } from '../src/model/vocab.ts';
import { PHI3_HPARAMS, vocabOnlyGGUF } from './phi3-vocab.ts';

/** microsoft/Phi-4-mini-instruct tokenizer_config.json `chat_template`: no newline after role tags. */
export const PHI4_MINI_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}" +
  "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}" +
  "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

export const PHI4_MINI_VOCAB_SIZE = 200064;

/** Phi-4-mini's added tokens (added_tokens.json), all special (CONTROL). */
export const PHI4_MINI_SPECIAL_TOKENS: readonly [number, string][] = [
  [199999, '<|endoftext|>'], [200018, '<|endofprompt|>'], [200019, '<|assistant|>'], [200020, '<|end|>'],
  [200021, '<|user|>'], [200022, '<|system|>'], [200023, '<|tool|>'], [200024, '<|/tool|>'],
  [200025, '<|tool_call|>'], [200026, '<|/tool_call|>'], [200027, '<|tool_response|>'], [200028, '<|tag|>'],
];

/** What a generator writes into a file's tokenizer keys. */
export interface BpeVocabData {
  tokens: string[];
  types: Int32Array;
  merges: string[];
  pre: string;
  bosId: number;
  eosId: number;
  padId: number;
  addBos: boolean;
  /** `tokenizer.ggml.add_eos_token`; default false. */
  addEos?: boolean;
  chatTemplate: string;
  /** `general.name` of its vocab-only file (never "phi3": llama.cpp would add Phi-3's RSTRIP rule). */
  name: string;
}

/** Runs BPE on `parts` (byte strings) with `rankOf(pair) < limit`; returns the final parts. */
function bpeParts(parts: string[], rankOf: (s: string) => number | undefined, limit: number): string[] {
  for (;;) {
    let best = -1;
    let bestRank = limit;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rankOf(parts[i] + parts[i + 1]);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return parts;
    parts.splice(best, 2, parts[best] + parts[best + 1]);
  }
}

/** Latin-1 string of bytes (one char per byte): a compact map key. */
function latin1(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

/** Byte-mapped token text of a Latin-1 byte string. */
function mapped(bytes: string): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes.charCodeAt(i)];
  return s;
}

let o200kCached: BpeVocabData | undefined;

/** Phi-4-mini's 200,064-token vocabulary over o200k_base (memoized; callers must not mutate it). */
export function o200kVocab(): BpeVocabData {
  if (o200kCached) return o200kCached;
  const require = createRequire(import.meta.url);
  const file = require.resolve('js-tiktoken/ranks/o200k_base');
  const ranksJson = (require(file) as { default?: { bpe_ranks: string }; bpe_ranks?: string });
  const bpeRanks = ranksJson.bpe_ranks ?? ranksJson.default?.bpe_ranks ?? '';
  // js-tiktoken's format: lines "<!> <first rank> <base64 token> <base64 token> ...".
  const byRank: string[] = [];
  for (const line of bpeRanks.split('\n')) {
    const f = line.split(' ');
    if (f.length < 2) continue;
    const first = Number(f[1]);
    for (let i = 2; i < f.length; i++) byRank[first + i - 2] = latin1(Buffer.from(f[i], 'base64'));
  }
  if (byRank.length !== 199998 || byRank[0] !== '!' || byRank.filter((b) => b.length === 1).length !== 256) {
    throw new Error(`bpe-vocab: unexpected o200k_base ranks in ${file} (${byRank.length} tokens)`);
  }
  const rankOf = new Map<string, number>();
  byRank.forEach((b, r) => rankOf.set(b, r));
  const merges: string[] = [];
  for (let r = 0; r < byRank.length; r++) {
    const b = byRank[r];
    if (b.length < 2) continue;
    const parts = bpeParts(Array.from(b), (s) => rankOf.get(s), r);
    if (parts.length !== 2) throw new Error(`bpe-vocab: o200k token ${r} does not end in one merge (${parts.length} parts)`);
    merges.push(`${mapped(parts[0])} ${mapped(parts[1])}`);
  }
  const n = PHI4_MINI_VOCAB_SIZE;
  const tokens = new Array<string>(n);
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (i < byRank.length) {
      tokens[i] = mapped(byRank[i]);
      types[i] = TokenType.NORMAL;
    } else {
      tokens[i] = `[PAD${i}]`;
      types[i] = TokenType.UNUSED;
    }
  }
  for (const [id, text] of PHI4_MINI_SPECIAL_TOKENS) {
    tokens[id] = text;
    types[id] = TokenType.CONTROL;
  }
  o200kCached = {
    tokens, types, merges, pre: 'gpt-4o',
    bosId: 199999, eosId: 199999, padId: 199999, addBos: false,
    chatTemplate: PHI4_MINI_CHAT_TEMPLATE, name: 'Phi 4 Mini Instruct',
  };
  return o200kCached;
}

/** The vocabulary as a `Vocab` (what `vocabFromMetadata` returns for its file). */
export function bpeVocabObject(v: BpeVocabData): Vocab {
  return {
    model: 'gpt2', pre: v.pre, merges: v.merges,
    tokens: v.tokens, scores: new Float32Array(v.tokens.length), types: v.types,
    bosId: v.bosId, eosId: v.eosId, unkId: -1,
    addBos: v.addBos, addEos: v.addEos ?? false, addSpacePrefix: false, isPhi3: false,
  };
}

/** GGUF tokenizer metadata entries (as llama.cpp's converter writes them for a gpt2 vocab). */
export function bpeTokenizerMetadata(v: BpeVocabData): [string, unknown][] {
  return [
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.pre', v.pre],
    ['tokenizer.ggml.tokens', v.tokens],
    ['tokenizer.ggml.token_type', v.types],
    ['tokenizer.ggml.merges', v.merges],
    ['tokenizer.ggml.bos_token_id', v.bosId],
    ['tokenizer.ggml.eos_token_id', v.eosId],
    ['tokenizer.ggml.padding_token_id', v.padId],
    ['tokenizer.ggml.add_bos_token', v.addBos],
    ['tokenizer.ggml.add_eos_token', v.addEos ?? false],
    ['tokenizer.chat_template', v.chatTemplate],
  ];
}

/** A vocab-only GGUF (phi3 hyperparameters, no tensors) that llama.cpp loads with `vocab_only`. */
export function bpeVocabGGUF(v: BpeVocabData): Uint8Array {
  return vocabOnlyGGUF([...PHI3_HPARAMS, ['general.name', v.name], ...bpeTokenizerMetadata(v)]);
}
