/**
 * Phi-3's real tokenizer vocabulary, rebuilt without the model file (PHI3.md 6.1), for test
 * fixtures and for the test-model generator's GGUF metadata.
 *
 * The 32,000 Llama-2 SentencePiece pieces come from the npm package `llama-tokenizer-js`, which
 * embeds them as one base64 string (`llama_vocab_base64`: the UTF-8 pieces joined by "\n"; no
 * Llama-2 piece contains "\n"). The package does not ship scores; `-id` reproduces SentencePiece's
 * merge order (its scores are decreasing in id), with `▁` and `▁▁` pinned at -1e9 as in the real
 * file. Ids 32000..32063 are Phi-3's added tokens.
 *
 * Choice for ids 32011..32063 (`[PAD<id>]`, score -10000): token type 2 (UNKNOWN), as stored in
 * llama.cpp's `models/ggml-vocab-phi-3.gguf`, rather than UNUSED (5) which newer converters write.
 * With type 2 llama.cpp parses them as special text (parse_special only) and never prints them
 * unless specials are rendered; with type 5 they would be ordinary unreachable pieces.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TokenType, type Vocab } from '../src/model/vocab.ts';

/** Template B of PHI3.md 6.4 (HF main as of 2024-05): keeps system messages. */
export const PHI3_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}" +
  "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}" +
  "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}" +
  "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

/** Template A of PHI3.md 6.4 (April 2024, in ggml-vocab-phi-3.gguf): starts with BOS, drops system messages. */
export const PHI3_CHAT_TEMPLATE_A =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}" +
  "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}" +
  "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}";

/** microsoft/Phi-3.5-mini-instruct tokenizer_config.json `chat_template`: drops empty system messages. */
export const PHI35_MINI_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}" +
  "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}" +
  "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}" +
  "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

/** Added tokens 32000..32010 (PHI3.md 6.1). */
export const PHI3_ADDED_TOKENS = [
  '<|endoftext|>', '<|assistant|>', '<|placeholder1|>', '<|placeholder2|>', '<|placeholder3|>',
  '<|placeholder4|>', '<|system|>', '<|end|>', '<|placeholder5|>', '<|placeholder6|>', '<|user|>',
];

export const PHI3_VOCAB_SIZE = 32064;

/** What the generator writes into a file's tokenizer keys: the engine's Vocab fields plus the file-only ones. */
export interface Phi3VocabData extends Pick<Vocab, 'tokens' | 'scores' | 'types' | 'bosId' | 'eosId' | 'unkId' | 'addBos'> {
  padId: number;
  addEos: boolean;
  /** `tokenizer.chat_template` (Template B). */
  chatTemplate: string;
}

/** The 32,000 Llama-2 pieces, decoded from the base64 blob inside llama-tokenizer-js. */
function llama2Pieces(): string[] {
  const file = createRequire(import.meta.url).resolve('llama-tokenizer-js');
  const src = readFileSync(file, 'utf8');
  const m = /llama_vocab_base64\s*=\s*"([A-Za-z0-9+/=]+)"/.exec(src);
  if (!m) throw new Error(`phi3-vocab: no llama_vocab_base64 in ${file}`);
  const pieces = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(m[1], 'base64')).split('\n');
  if (pieces.length !== 32000 || pieces[15043] !== '▁Hello' || pieces[29871] !== '▁') {
    throw new Error(`phi3-vocab: unexpected Llama-2 vocabulary in ${file} (${pieces.length} pieces)`);
  }
  return pieces;
}

let cached: Phi3VocabData | undefined;

/** Phi-3's 32,064-token vocabulary (memoized; callers must not mutate it). */
export function phi3Vocab(): Phi3VocabData {
  if (cached) return cached;
  const pieces = llama2Pieces();
  const n = PHI3_VOCAB_SIZE;
  const tokens = new Array<string>(n);
  const scores = new Float32Array(n);
  const types = new Int32Array(n);
  for (let i = 0; i < 32000; i++) {
    tokens[i] = pieces[i];
    if (i <= 2) {
      // <unk> and <s> CONTROL; </s> USER_DEFINED (HF special:false after PR #53).
      types[i] = i === 2 ? TokenType.USER_DEFINED : TokenType.CONTROL;
      scores[i] = 0;
    } else if (i <= 258) {
      types[i] = TokenType.BYTE;
      scores[i] = 0;
    } else {
      types[i] = TokenType.NORMAL;
      scores[i] = i === 259 || i === 29871 ? -1e9 : -i;
    }
  }
  for (let i = 32000; i < n; i++) {
    const added = i - 32000 < PHI3_ADDED_TOKENS.length;
    tokens[i] = added ? PHI3_ADDED_TOKENS[i - 32000] : `[PAD${i}]`;
    scores[i] = added ? -1000 : -10000;
    types[i] = added ? TokenType.CONTROL : TokenType.UNKNOWN;
  }
  cached = {
    tokens, scores, types,
    bosId: 1, eosId: 32000, unkId: 0, padId: 32000,
    addBos: true, addEos: false,
    chatTemplate: PHI3_CHAT_TEMPLATE,
  };
  return cached;
}

/** The same vocabulary as a `Vocab` (what `vocabFromMetadata` returns for a Phi-3 file). */
export function phi3VocabObject(): Vocab {
  const v = phi3Vocab();
  return {
    tokens: v.tokens, scores: v.scores, types: v.types,
    bosId: v.bosId, eosId: v.eosId, unkId: v.unkId,
    addBos: v.addBos, addSpacePrefix: true, isPhi3: true,
  };
}

/** GGUF metadata entries for the tokenizer (PHI3.md 3.2), for writers of test models. */
export function phi3TokenizerMetadata(): Map<string, unknown> {
  const v = phi3Vocab();
  return new Map<string, unknown>([
    ['tokenizer.ggml.model', 'llama'],
    ['tokenizer.ggml.pre', 'default'],
    ['tokenizer.ggml.tokens', v.tokens],
    ['tokenizer.ggml.scores', v.scores],
    ['tokenizer.ggml.token_type', v.types],
    ['tokenizer.ggml.bos_token_id', v.bosId],
    ['tokenizer.ggml.eos_token_id', v.eosId],
    ['tokenizer.ggml.unknown_token_id', v.unkId],
    ['tokenizer.ggml.padding_token_id', v.padId],
    ['tokenizer.ggml.add_bos_token', v.addBos],
    ['tokenizer.ggml.add_eos_token', v.addEos],
    ['tokenizer.chat_template', v.chatTemplate],
  ]);
}

/**
 * A vocab-only GGUF v3 file (no tensors) holding Phi-3's tokenizer plus the phi3 hyperparameters
 * llama.cpp reads even with `vocab_only`, so llama.cpp (node-llama-cpp) and our CLI can load it.
 * Self-contained on purpose: tokenizer tests must not depend on the model writer.
 */
export function phi3VocabGGUF(): Uint8Array {
  return vocabOnlyGGUF([...PHI3_HPARAMS, ['general.name', 'Phi3'], ...phi3TokenizerMetadata()]);
}

/** The phi3 hyperparameters llama.cpp reads even with `vocab_only` (Phi-3-mini's). */
export const PHI3_HPARAMS: [string, unknown][] = [
  ['general.architecture', 'phi3'],
  ['phi3.context_length', { u32: 4096 }],
  ['phi3.embedding_length', { u32: 3072 }],
  ['phi3.block_count', { u32: 32 }],
  ['phi3.feed_forward_length', { u32: 8192 }],
  ['phi3.attention.head_count', { u32: 32 }],
  ['phi3.attention.head_count_kv', { u32: 32 }],
  ['phi3.rope.dimension_count', { u32: 96 }],
  ['phi3.attention.layer_norm_rms_epsilon', { f32: 1e-5 }],
];

/**
 * A GGUF v3 file with these metadata entries and no tensors. Values: a string, a number (u32),
 * a boolean, a Float32Array, an Int32Array, a string array, or an explicit `{ u32 }` / `{ f32 }`.
 */
export function vocabOnlyGGUF(entries: readonly [string, unknown][]): Uint8Array {
  const kv: [string, KvValue][] = [];
  for (const [key, v] of entries) {
    if (typeof v === 'string') kv.push([key, { str: v }]);
    else if (typeof v === 'number') kv.push([key, { u32: v }]);
    else if (typeof v === 'boolean') kv.push([key, { bool: v }]);
    else if (v instanceof Float32Array) kv.push([key, { f32s: v }]);
    else if (v instanceof Int32Array) kv.push([key, { i32s: v }]);
    else if (Array.isArray(v)) kv.push([key, { strs: v as string[] }]);
    else kv.push([key, v as KvValue]);
  }
  const out: number[] = [];
  const dv = new DataView(new ArrayBuffer(8));
  const put = (n: number): void => { for (let i = 0; i < n; i++) out.push(dv.getUint8(i)); };
  const u32 = (x: number): void => { dv.setUint32(0, x, true); put(4); };
  const u64 = (x: number): void => { dv.setBigUint64(0, BigInt(x), true); put(8); };
  const str = (s: string): void => { const b = new TextEncoder().encode(s); u64(b.length); for (const x of b) out.push(x); };
  // GGUF value types (PHI3.md 3.1): 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array.
  u32(0x46554747); u32(3); u64(0); u64(kv.length);
  for (const [key, v] of kv) {
    str(key);
    if ('str' in v) { u32(8); str(v.str); }
    else if ('u32' in v) { u32(4); u32(v.u32); }
    else if ('f32' in v) { u32(6); dv.setFloat32(0, v.f32, true); put(4); }
    else if ('bool' in v) { u32(7); out.push(v.bool ? 1 : 0); }
    else if ('strs' in v) { u32(9); u32(8); u64(v.strs.length); for (const s of v.strs) str(s); }
    else if ('f32s' in v) { u32(9); u32(6); u64(v.f32s.length); for (const x of v.f32s) { dv.setFloat32(0, x, true); put(4); } }
    else { u32(9); u32(5); u64(v.i32s.length); for (const x of v.i32s) { dv.setInt32(0, x, true); put(4); } }
  }
  while (out.length % 32 !== 0) out.push(0); // data section alignment (empty)
  return Uint8Array.from(out);
}

type KvValue =
  | { str: string } | { u32: number } | { f32: number } | { bool: boolean }
  | { strs: string[] } | { f32s: Float32Array } | { i32s: Int32Array };
