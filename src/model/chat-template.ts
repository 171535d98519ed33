/**
 * Chat messages -> prompt text / prompt ids (PHI3.md 6.4, 7).
 *
 * Safety rule: the template's markup may produce control tokens, message content never does.
 * A user who types `<|end|>\n<|assistant|>` gets those characters as text tokens, not a forged
 * turn. We render the template with a unique sentinel in place of each message's content, cut
 * the output at the sentinels into markup and content segments, and tokenize the joined text
 * with special tokens recognised only inside markup (`TextTokenizer.encodeSegments`). Space prefix
 * and RSTRIP still run across the seams, so when content holds no special-token text the ids
 * equal llama.cpp's tokenization of the rendered prompt (parse_special on).
 *
 * Fallback to a builtin format when there is no template, it fails to render, it drops a
 * message (Template A drops system messages; llama.cpp itself detects that template by its
 * markup and uses its builtin, which keeps them), or it alters/duplicates content (then we could
 * not tell markup from content). The builtin is the vocabulary's family's: Phi-3's
 * (`<|role|>\n` content `<|end|>\n`, llama.cpp `LLM_CHAT_TEMPLATE_PHI_3`) for a SentencePiece
 * vocab, Phi-4-mini's (`<|role|>` content `<|end|>`, no newlines: its tokenizer_config.json
 * template) for a byte-level BPE one; `ChatPlan.builtin` says which was used.
 */
import { Template } from '@huggingface/jinja';
import type { Segment, TextTokenizer } from './tokenizer.ts';
import { EOG_TEXTS, type Vocab } from './vocab.ts';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** The builtin formats: Phi-3's (newline after each tag) and Phi-4-mini's (none). */
export type BuiltinFormat = 'phi3' | 'phi4-mini';

export interface ChatTemplateOptions {
  /** `tokenizer.chat_template` from the GGUF; absent -> the builtin format. */
  template?: string;
  /** The builtin format to fall back to; default 'phi3'. */
  builtin?: BuiltinFormat;
  addGenerationPrompt: boolean;
  bosToken: string;
  eosToken: string;
}

export interface ChatPlan {
  /** Markup (`special: true`) and content (`special: false`) in prompt order. */
  segments: Segment[];
  source: 'template' | 'builtin';
  /** Which builtin format, when `source` is 'builtin'. */
  builtin?: BuiltinFormat;
  /** Why the template was not used, when it was given but `source` is 'builtin'. */
  fallbackReason?: string;
}

/**
 * A builtin format: per message `<|role|>` content `<|end|>`, then `<|assistant|>`; Phi-3 puts a
 * newline after each tag (llama.cpp `LLM_CHAT_TEMPLATE_PHI_3`), Phi-4-mini none. No BOS (the
 * tokenizer adds it where the vocab asks), no trailing EOS.
 */
function builtinFormat(format: BuiltinFormat, messages: readonly ChatMessage[], addGenerationPrompt: boolean): Segment[] {
  const nl = format === 'phi3' ? '\n' : '';
  const segs: Segment[] = [];
  for (const m of messages) {
    segs.push({ text: `<|${m.role}|>${nl}`, special: true });
    segs.push({ text: m.content, special: false });
    segs.push({ text: `<|end|>${nl}`, special: true });
  }
  if (addGenerationPrompt) segs.push({ text: `<|assistant|>${nl}`, special: true });
  return segs;
}

const parsed = new Map<string, Template>();

function render(template: string, messages: readonly ChatMessage[], opts: ChatTemplateOptions): string {
  let t = parsed.get(template);
  if (!t) {
    t = new Template(template);
    if (parsed.size > 8) parsed.clear();
    parsed.set(template, t);
  }
  return t.render({
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: opts.addGenerationPrompt,
    bos_token: opts.bosToken,
    eos_token: opts.eosToken,
  });
}

/** Private-use delimiters that appear nowhere in the template or the special-token strings. */
function sentinelMarks(opts: ChatTemplateOptions): [string, string] {
  const taken = (opts.template ?? '') + opts.bosToken + opts.eosToken;
  for (let c = 0xe000; c < 0xf8ff; c += 2) {
    const a = String.fromCharCode(c);
    const b = String.fromCharCode(c + 1);
    if (!taken.includes(a) && !taken.includes(b)) return [a, b];
  }
  throw new Error('chat template uses every private-use character');
}

function planFromTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions & { template: string }): Segment[] | string {
  const [open, close] = sentinelMarks(opts);
  const marked = messages.map((m, i) => ({ role: m.role, content: `${open}${i}${close}` }));
  let withMarks: string;
  let real: string;
  try {
    withMarks = render(opts.template, marked, opts);
    real = render(opts.template, messages, opts);
  } catch (e) {
    return `template failed to render: ${(e as Error).message}`;
  }
  const segs: Segment[] = [];
  const seen = new Array<number>(messages.length).fill(0);
  const re = new RegExp(`${open}(\\d+)${close}`, 'g');
  let last = 0;
  for (let m = re.exec(withMarks); m; m = re.exec(withMarks)) {
    const i = Number(m[1]);
    if (!(i < messages.length)) return 'template output has a stray content marker';
    seen[i]++;
    segs.push({ text: withMarks.slice(last, m.index), special: true });
    segs.push({ text: messages[i].content, special: false });
    last = m.index + m[0].length;
  }
  segs.push({ text: withMarks.slice(last), special: true });
  const dropped = seen.findIndex((n) => n === 0);
  if (dropped >= 0) return `template drops message ${dropped} (role ${messages[dropped].role})`;
  if (seen.some((n) => n > 1)) return 'template repeats message content';
  if (segs.map((s) => s.text).join('') !== real) return 'template transforms message content';
  return segs.filter((s) => s.text.length > 0);
}

/** Markup and content segments of the prompt; see the module comment for the fallback rules. */
export function planChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions): ChatPlan {
  const builtin = opts.builtin ?? 'phi3';
  const segments = (): Segment[] => builtinFormat(builtin, messages, opts.addGenerationPrompt);
  if (opts.template) {
    const r = planFromTemplate(messages, { ...opts, template: opts.template });
    if (typeof r !== 'string') return { segments: r, source: 'template' };
    return { segments: segments(), source: 'builtin', builtin, fallbackReason: r };
  }
  return { segments: segments(), source: 'builtin', builtin };
}

/** The builtin format that fits a vocabulary: Phi-4-mini's for byte-level BPE, else Phi-3's. */
export function builtinFormatFor(vocab: Vocab): BuiltinFormat {
  return vocab.model === 'gpt2' ? 'phi4-mini' : 'phi3';
}

/** The prompt as text (what llama.cpp would feed its tokenizer, parse_special on). */
export function renderChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions): string {
  return planChat(messages, opts).segments.map((s) => s.text).join('');
}

export type EncodeChatOptions = Omit<ChatTemplateOptions, 'bosToken' | 'eosToken'> & {
  /** Default: the text of the vocab's BOS / EOS token. */
  bosToken?: string;
  eosToken?: string;
};

/**
 * Prompt ids: BOS (when the vocab adds one) + markup as special tokens + content as text. The
 * builtin format defaults to the vocabulary's (`builtinFormatFor`).
 * A template that starts with BOS text does not get a second BOS (llama.cpp's common_chat
 * strips it for the same reason).
 */
export function encodeChat(tokenizer: TextTokenizer, messages: readonly ChatMessage[], opts: EncodeChatOptions): number[] {
  const v = tokenizer.vocab;
  const bosToken = opts.bosToken ?? v.tokens[v.bosId] ?? '';
  const eosToken = opts.eosToken ?? v.tokens[v.eosId] ?? '';
  const builtin = opts.builtin ?? builtinFormatFor(v);
  const segments = planChat(messages, { ...opts, builtin, bosToken, eosToken }).segments.slice();
  if (v.addBos && bosToken && segments.length > 0 && segments[0].special && segments[0].text.startsWith(bosToken)) {
    segments[0] = { text: segments[0].text.slice(bosToken.length), special: true };
  }
  return tokenizer.encodeSegments(segments, { addSpecial: true });
}

/**
 * Ids that end a reply: every token llama.cpp counts as end-of-generation by its text
 * (`EOG_TEXTS`: `<|end|>`, `<|endoftext|>`, ...), `<|assistant|>` (the April 2024 Phi-3
 * generation_config's eos list, PHI3.md 7: a reply never opens a new assistant turn), where the
 * vocab has them, plus the file's EOS. Ascending.
 */
export function stopTokenIds(vocab: Vocab): number[] {
  const ids = new Set<number>();
  const stopTexts = new Set([...EOG_TEXTS, '<|assistant|>']);
  // By text, like llama.cpp's token_to_id lookup: the last id with that text.
  const byText = new Map<string, number>();
  vocab.tokens.forEach((t, i) => { if (stopTexts.has(t)) byText.set(t, i); });
  for (const id of byText.values()) ids.add(id);
  if (vocab.eosId >= 0 && vocab.eosId < vocab.tokens.length) ids.add(vocab.eosId);
  return [...ids].sort((a, b) => a - b);
}
