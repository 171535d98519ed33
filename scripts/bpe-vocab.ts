/**
 * GPT-2 byte-level BPE vocabularies for tests and the test-model generator:
 *
 * - `bpeSmallVocab()` (bpe-small-vocab.ts): a small vocabulary with merges learned on a seeded
 *   corpus.
 * - `o200kVocab()`: Phi-4-mini's layout (PHI4_MINI_VOCAB_SIZE ids): o200k_base's 199,998 tokens
 *   from the npm package js-tiktoken (ranks = ids), merges derived from the ranks, Phi-4-mini's
 *   special tokens at their ids, `[PAD<id>]` (UNUSED) everywhere else, as llama.cpp's converter
 *   pads. Merges come from the ranks as src/model/tiktoken-vocab.ts derives them.
 *
 * Both come as a `Vocab` (what `vocabFromMetadata` returns) and as tokenizer metadata / a
 * vocab-only GGUF that llama.cpp loads.
 */
import { createRequire } from 'node:module';
import { byteMapped, mergesFromRanks } from '../src/model/tiktoken-vocab.ts';
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

/**
 * A js-tiktoken encoding's mergeable tokens by rank. Its format: lines
 * "<!> <first rank> <base64 token> <base64 token> ...".
 */
export function jsTiktokenRanks(name: 'o200k_base' | 'cl100k_base'): Uint8Array[] {
  const require = createRequire(import.meta.url);
  const file = require.resolve(`js-tiktoken/ranks/${name}`);
  const json = require(file) as { default?: { bpe_ranks: string }; bpe_ranks?: string };
  const bpeRanks = json.bpe_ranks ?? json.default?.bpe_ranks ?? '';
  const byRank: Uint8Array[] = [];
  for (const line of bpeRanks.split('\n')) {
    const f = line.split(' ');
    if (f.length < 2) continue;
    const first = Number(f[1]);
    for (let i = 2; i < f.length; i++) byRank[first + i - 2] = new Uint8Array(Buffer.from(f[i], 'base64'));
  }
  for (let r = 0; r < byRank.length; r++) if (byRank[r] === undefined) throw new Error(`bpe-vocab: ${file} has no token of rank ${r}`);
  return byRank;
}

let o200kCached: BpeVocabData | undefined;

/** Phi-4-mini's 200,064-token vocabulary over o200k_base (memoized; callers must not mutate it). */
export function o200kVocab(): BpeVocabData {
  if (o200kCached) return o200kCached;
  const byRank = jsTiktokenRanks('o200k_base');
  if (byRank.length !== 199998 || byRank[0][0] !== 0x21 || byRank.filter((b) => b.length === 1).length !== 256) {
    throw new Error(`bpe-vocab: unexpected o200k_base ranks (${byRank.length} tokens)`);
  }
  const merges = mergesFromRanks(byRank, 'o200k_base');
  const n = PHI4_MINI_VOCAB_SIZE;
  const tokens = new Array<string>(n);
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (i < byRank.length) {
      tokens[i] = byteMapped(byRank[i]);
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
