/**
 * The tokenizer vocabulary of a GGUF file (PHI3.md 3.2, 6.1) and the per-token attributes
 * llama.cpp derives from it at load time (`llama_vocab::impl::load`). The attributes, not the
 * stored types, decide how text is split around special tokens and what each token decodes to.
 */
import { ModelFormatError } from '../common/errors.ts';

/** `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** Attribute bits (llama.cpp `llama_token_attr`); a token may carry several. */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

/** `tokenizer.ggml.model`: SentencePiece BPE ("llama") or GPT-2 byte-level BPE ("gpt2"). */
export type VocabModel = 'llama' | 'gpt2';

/**
 * `tokenizer.ggml.pre` values of a gpt2 vocabulary we can pre-tokenize, by the llama.cpp
 * pre-tokenizer type each selects (llama-vocab.cpp `load`). Any other name is refused at load.
 */
export const BPE_PRE_TOKENIZERS: Readonly<Record<string, 'gpt4o' | 'llama3' | 'gpt2' | 'default' | 'cl100k'>> = {
  'gpt-4o': 'gpt4o',
  llama4: 'gpt4o',
  llama3: 'llama3',
  'llama-v3': 'llama3',
  'llama-bpe': 'llama3',
  'gpt-2': 'gpt2',
  'phi-2': 'gpt2',
  default: 'default',
  /** Phi-3-small (tiktoken cl100k_base): not a llama.cpp name; our converter writes it. */
  cl100k: 'cl100k',
};

export interface Vocab {
  /** Default 'llama' (SentencePiece). */
  model?: VocabModel;
  /** gpt2 only: `tokenizer.ggml.pre`, a key of BPE_PRE_TOKENIZERS. */
  pre?: string;
  /** gpt2 only: `tokenizer.ggml.merges`, "left right" in byte-mapped text; the index is the rank. */
  merges?: string[];
  tokens: string[];
  scores: Float32Array;
  /** 1 NORMAL 2 UNKNOWN 3 CONTROL 4 USER_DEFINED 5 UNUSED 6 BYTE */
  types: Int32Array;
  bosId: number;
  eosId: number;
  unkId: number;
  addBos: boolean;
  /** Append EOS when encoding with special tokens (`tokenizer.ggml.add_eos_token`; default false). */
  addEos?: boolean;
  addSpacePrefix: boolean;
  /** general.name contains phi-3/phi3 (lowercased): enables the RSTRIP rule, as in llama.cpp,
   *  which looks at the name only (Phi-4-mini has architecture phi3 and no RSTRIP rule). */
  isPhi3: boolean;
}

/**
 * Token texts llama.cpp counts as end-of-generation (`special_eog_ids`, found by text in `load`).
 * llama.cpp also gives each of them the CONTROL bit (see CONTROL_LOOKING).
 */
export const EOG_TEXTS: readonly string[] = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>',
  '<end_of_turn>', '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]',
  '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>',
  '<｜end▁of▁sentence｜>', '[e~[',
];

/**
 * Token texts llama.cpp treats as "control-looking" (EOT/EOM/EOG/FIM detection in `load`): if
 * such a token is not CONTROL in the file, llama.cpp adds the CONTROL bit. For Phi-3 this turns
 * `</s>` (stored USER_DEFINED) into USER_DEFINED|CONTROL, so it is only parsed from text when
 * parse_special is on, and it decodes to nothing unless specials are rendered. (PHI3.md 6.3
 * describes the older llama.cpp of Feb 2025 where `</s>` was always parsed; we follow the
 * llama.cpp our equality test runs against.)
 */
const CONTROL_LOOKING = new Set([
  ...EOG_TEXTS,
  '<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>',
  '<|code_prefix|>', '<|prefix|>',
  '<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>',
  '<|code_suffix|>', '<|suffix|>',
  '<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>',
  '<|code_middle|>', '<|middle|>',
  '<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]',
  '<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>', '<|file_sep|>',
]);

const TYPE_TO_ATTR: Record<number, number> = {
  [TokenType.NORMAL]: TokenAttr.NORMAL,
  [TokenType.UNKNOWN]: TokenAttr.UNKNOWN,
  [TokenType.CONTROL]: TokenAttr.CONTROL,
  [TokenType.USER_DEFINED]: TokenAttr.USER_DEFINED,
  [TokenType.UNUSED]: TokenAttr.UNUSED,
  [TokenType.BYTE]: TokenAttr.BYTE,
};

/** Attributes that make a token a candidate for special-token partitioning. */
export const SPECIAL_ATTRS = TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN;

/**
 * Per-token attributes as llama.cpp computes them: the stored type, the CONTROL bit for
 * control-looking texts, UNUSED for control tokens named "unused", USER_DEFINED for gpt-oss's
 * markup, and for Phi-3 the RSTRIP bit on every special token and `</s>`, cleared again for
 * `<unk>`, `<s>`, `<|endoftext|>` (PHI3.md 6.3).
 */
export function tokenAttrs(vocab: Vocab): Uint16Array {
  const n = vocab.tokens.length;
  const attrs = new Uint16Array(n);
  for (let i = 0; i < n; i++) attrs[i] = TYPE_TO_ATTR[vocab.types[i]] ?? TokenAttr.UNDEFINED;
  for (let i = 0; i < n; i++) {
    if (CONTROL_LOOKING.has(vocab.tokens[i])) attrs[i] |= TokenAttr.CONTROL;
    // A control token whose text says "unused" is also UNUSED (llama.cpp's auto-detection).
    if (attrs[i] & TokenAttr.CONTROL && vocab.tokens[i].includes('unused')) attrs[i] |= TokenAttr.UNUSED;
  }
  // gpt-oss's harmony markup is always parsed and rendered: llama.cpp makes it USER_DEFINED only.
  for (const t of ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']) {
    const id = vocab.tokens.lastIndexOf(t);
    if (id >= 0) attrs[id] = TokenAttr.USER_DEFINED;
  }
  if (vocab.isPhi3) {
    for (let i = 0; i < n; i++) if (attrs[i] & SPECIAL_ATTRS) attrs[i] |= TokenAttr.RSTRIP;
    // By text, like llama.cpp's token_to_id lookup: the last id with that text wins.
    const idOf = (text: string): number => vocab.tokens.lastIndexOf(text);
    const rs = idOf('</s>');
    if (rs >= 0) attrs[rs] |= TokenAttr.RSTRIP;
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) {
      const id = idOf(t);
      if (id >= 0) attrs[id] &= ~TokenAttr.RSTRIP;
    }
  }
  return attrs;
}

// ---- reading GGUF metadata ----

function num(v: unknown, key: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new ModelFormatError(`${key} must be a number, got ${typeof v}`, { field: key });
}

function optNum(meta: ReadonlyMap<string, unknown>, key: string, dflt: number): number {
  return meta.has(key) ? num(meta.get(key), key) : dflt;
}

function optBool(meta: ReadonlyMap<string, unknown>, key: string, dflt: boolean): boolean {
  const v = meta.get(key);
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  throw new ModelFormatError(`${key} must be a bool, got ${typeof v}`, { field: key });
}

function numberArray(v: unknown, key: string, n: number): ArrayLike<number | bigint> {
  const ok = Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
  if (!ok) throw new ModelFormatError(`${key} must be an array`, { field: key });
  const a = v as ArrayLike<number | bigint>;
  if (a.length !== n) {
    throw new ModelFormatError(`${key} has ${a.length} entries, tokenizer.ggml.tokens has ${n}`, { field: key });
  }
  return a;
}

/**
 * Reads the tokenizer keys of PHI3.md 3.2. Defaults are llama.cpp's: for an SPM vocab bos 1,
 * eos 2, unk 0, add_bos true, add_space_prefix true; for a gpt2 vocab bos 11, eos 11, no unk,
 * add_bos false (true for the llama3 pre-tokenizers), add_space_prefix false. Scores 0, types
 * NORMAL. A gpt2 vocabulary must have its merges and a pre-tokenizer we implement.
 */
export function vocabFromMetadata(meta: ReadonlyMap<string, unknown>): Vocab {
  const model = meta.get('tokenizer.ggml.model');
  if (model === undefined) {
    throw new ModelFormatError('the file has no tokenizer (tokenizer.ggml.model is missing)', { field: 'tokenizer.ggml.model' });
  }
  if (model !== 'llama' && model !== 'gpt2') {
    throw new ModelFormatError(
      `unsupported tokenizer model "${String(model)}": only "llama" (SentencePiece BPE, as in Phi-3) and "gpt2" (byte-level BPE, as in Phi-4-mini) are supported`,
      { field: 'tokenizer.ggml.model' },
    );
  }
  const tokensV = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokensV) || tokensV.some((t) => typeof t !== 'string')) {
    throw new ModelFormatError('tokenizer.ggml.tokens must be an array of strings', { field: 'tokenizer.ggml.tokens' });
  }
  // llama.cpp renames empty token texts so that every text maps back to one id.
  const tokens = (tokensV as string[]).map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
  const n = tokens.length;
  if (n === 0) throw new ModelFormatError('tokenizer.ggml.tokens is empty', { field: 'tokenizer.ggml.tokens' });

  let pre: string | undefined;
  let merges: string[] | undefined;
  if (model === 'gpt2') {
    const preV = meta.get('tokenizer.ggml.pre');
    // Like llama.cpp, a file without the key gets the "default" pre-tokenizer.
    pre = preV === undefined || preV === '' ? 'default' : String(preV);
    if (!Object.hasOwn(BPE_PRE_TOKENIZERS, pre)) {
      throw new ModelFormatError(
        `unsupported pre-tokenizer "${pre}" (tokenizer.ggml.pre) for a gpt2 vocabulary: supported are ${Object.keys(BPE_PRE_TOKENIZERS).map((k) => `"${k}"`).join(', ')}`,
        { field: 'tokenizer.ggml.pre' },
      );
    }
    const m = meta.get('tokenizer.ggml.merges');
    if (m === undefined) {
      throw new ModelFormatError('tokenizer.ggml.merges is missing: a gpt2 (byte-level BPE) vocabulary needs its merges', { field: 'tokenizer.ggml.merges' });
    }
    if (!Array.isArray(m) || m.some((x) => typeof x !== 'string')) {
      throw new ModelFormatError('tokenizer.ggml.merges must be an array of strings', { field: 'tokenizer.ggml.merges' });
    }
    merges = m as string[];
  }
  const bpe = model === 'gpt2';

  const scores = new Float32Array(n);
  if (meta.has('tokenizer.ggml.scores')) {
    const s = numberArray(meta.get('tokenizer.ggml.scores'), 'tokenizer.ggml.scores', n);
    for (let i = 0; i < n; i++) scores[i] = Number(s[i]);
  }
  const types = new Int32Array(n).fill(TokenType.NORMAL);
  if (meta.has('tokenizer.ggml.token_type')) {
    const t = numberArray(meta.get('tokenizer.ggml.token_type'), 'tokenizer.ggml.token_type', n);
    for (let i = 0; i < n; i++) types[i] = Number(t[i]);
  }

  const id = (key: string, dflt: number): number => {
    // A default outside the vocabulary is disabled (-1), as llama.cpp does.
    const d = dflt < n ? dflt : -1;
    const v = optNum(meta, key, d);
    // llama.cpp keeps its default when the stored id is out of range.
    return Number.isInteger(v) && v >= 0 && v < n ? v : d;
  };
  const name = String(meta.get('general.name') ?? '').toLowerCase();
  return {
    model,
    ...(bpe ? { pre, merges } : {}),
    tokens,
    scores,
    types,
    bosId: id('tokenizer.ggml.bos_token_id', bpe ? 11 : 1),
    eosId: id('tokenizer.ggml.eos_token_id', bpe ? 11 : 2),
    unkId: id('tokenizer.ggml.unknown_token_id', bpe ? -1 : 0),
    addBos: optBool(meta, 'tokenizer.ggml.add_bos_token', !bpe || BPE_PRE_TOKENIZERS[pre ?? ''] === 'llama3'),
    addEos: optBool(meta, 'tokenizer.ggml.add_eos_token', false),
    addSpacePrefix: optBool(meta, 'tokenizer.ggml.add_space_prefix', !bpe),
    // Phi-3-small's tokenizer is tiktoken's: it strips nothing around special tokens.
    isPhi3: pre !== 'cl100k' && (name.includes('phi-3') || name.includes('phi3')),
  };
}
