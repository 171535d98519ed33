/**
 * A conversation as a file: Markdown to read or share, JSON that keeps everything (its `messages`
 * can be sent as-is to any OpenAI-style chat API, the system prompt first).
 */
import { isFinishReason, isTruncated, titleFrom, type ChatMessage, type Conversation } from './conversations.ts';

function note(m: ChatMessage): string | undefined {
  if (m.error) return `failed: ${m.error}`;
  if (m.streaming) return 'incomplete';
  if (m.finish === 'abort') return 'stopped';
  if (m.finish === 'length') return 'cut at max tokens';
  if (m.finish === 'context_full') return 'context full';
  return undefined;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

export function toMarkdown(c: Conversation): string {
  const out = [`# ${oneLine(c.title)}`, ''];
  out.push(`- Created: ${new Date(c.createdAt).toISOString()}`);
  if (c.modelName || c.modelId) out.push(`- Model: ${oneLine(c.modelName ?? c.modelId ?? '')}`);
  out.push('');
  if (c.systemPrompt.trim()) out.push('## System', '', c.systemPrompt.trim(), '');
  for (const m of c.messages) {
    out.push(m.role === 'user' ? '## User' : '## Assistant', '');
    if (m.content) out.push(m.content, '');
    const n = m.role === 'assistant' ? note(m) : undefined;
    if (n) out.push(`_(${n})_`, '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

export function toJSON(c: Conversation): string {
  const messages = [
    ...(c.systemPrompt.trim() ? [{ role: 'system', content: c.systemPrompt }] : []),
    ...c.messages.map((m) => ({
      role: m.role,
      content: m.content,
      ...(m.finish ? { finish_reason: m.finish } : {}),
      ...(m.error ? { error: m.error } : {}),
      ...(m.usage ? { usage: m.usage } : {}),
      ...(m.timing ? { timing: m.timing } : {}),
      ...(m.truncated ? { truncated: m.truncated } : {}),
    })),
  ];
  const doc = {
    format: 'phi3-local-chat.conversation',
    version: 1,
    id: c.id,
    title: c.title,
    createdAt: new Date(c.createdAt).toISOString(),
    updatedAt: new Date(c.updatedAt).toISOString(),
    model: c.modelId ? { id: c.modelId, name: c.modelName ?? c.modelId } : null,
    messages,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** A file name from a title: letters and digits kept (any script), the rest one dash, at most 60. */
export function exportFileName(title: string, ext: 'md' | 'json'): string {
  const base = title
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .slice(0, 60)
    .replace(/^-+|-+$/g, '');
  return `${base || 'chat'}.${ext}`;
}

/** Hands text to the browser as a download (a Blob URL on a temporary link). */
export function downloadText(fileName: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoking at once can cancel the download in some browsers; the URL is tiny, let it live a bit.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Largest conversation file `fromJSON` accepts (a long chat is a few hundred kB). */
export const IMPORT_MAX_BYTES = 20_000_000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numbers<K extends string>(v: unknown, keys: readonly K[]): Record<K, number> | undefined {
  if (!isRecord(v)) return undefined;
  for (const k of keys) if (typeof v[k] !== 'number' || !Number.isFinite(v[k])) return undefined;
  return Object.fromEntries(keys.map((k) => [k, v[k]])) as Record<K, number>;
}

function time(v: unknown, fallback: number): number {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : fallback;
}

/**
 * A conversation from a file written by toJSON. It gets a new id (importing the same file twice
 * gives two conversations; nothing stored is overwritten). Throws an Error saying what is wrong
 * for anything else: not JSON, another format or version, a message without a role or text.
 * Fields it does not know are ignored; a usage or timing that is not well formed is dropped.
 */
export function fromJSON(text: string, now = Date.now()): Conversation {
  if (text.length > IMPORT_MAX_BYTES) throw new Error(`the file is ${(text.length / 1e6).toFixed(1)} MB; a conversation file is at most ${IMPORT_MAX_BYTES / 1e6} MB`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error('the file is not JSON (export a chat as JSON to import it)');
  }
  if (!isRecord(doc) || doc.format !== 'phi3-local-chat.conversation') throw new Error('the file is not a conversation exported by this app (no "format": "phi3-local-chat.conversation")');
  if (doc.version !== 1) throw new Error(`conversation file version ${JSON.stringify(doc.version)} is not supported (this app reads version 1)`);
  if (!Array.isArray(doc.messages)) throw new Error('the file has no "messages" list');
  let systemPrompt = '';
  const messages: ChatMessage[] = [];
  doc.messages.forEach((m: unknown, i: number) => {
    if (!isRecord(m) || typeof m.content !== 'string') throw new Error(`message ${i + 1} has no text ("content")`);
    if (m.role === 'system' && i === 0) {
      systemPrompt = m.content;
      return;
    }
    if (m.role !== 'user' && m.role !== 'assistant') throw new Error(`message ${i + 1} has role ${JSON.stringify(m.role)}; expected "user" or "assistant"${m.role === 'system' ? ' (a system prompt comes first)' : ''}`);
    const msg: ChatMessage = { id: crypto.randomUUID(), role: m.role, content: m.content };
    if (m.role === 'assistant') {
      if (isFinishReason(m.finish_reason)) msg.finish = m.finish_reason;
      if (typeof m.error === 'string') msg.error = m.error;
      const usage = numbers(m.usage, ['prompt_tokens', 'completion_tokens', 'total_tokens'] as const);
      if (usage) msg.usage = { ...usage, cached_prompt_tokens: numbers(m.usage, ['cached_prompt_tokens'] as const)?.cached_prompt_tokens ?? 0 };
      const timing = numbers(m.timing, ['prefillMs', 'decodeMs', 'prefillTokPerS', 'decodeTokPerS'] as const);
      if (timing) msg.timing = timing;
      if (isTruncated(m.truncated)) msg.truncated = { dropped_messages: m.truncated.dropped_messages, dropped_tokens: m.truncated.dropped_tokens, context_length: m.truncated.context_length };
    }
    messages.push(msg);
  });
  const title = typeof doc.title === 'string' ? doc.title.replace(/\s+/g, ' ').trim().slice(0, 60).trim() : '';
  const firstUser = messages.find((m) => m.role === 'user')?.content ?? '';
  const model = isRecord(doc.model) && typeof doc.model.id === 'string' ? { modelId: doc.model.id, modelName: typeof doc.model.name === 'string' ? doc.model.name : doc.model.id } : {};
  const createdAt = time(doc.createdAt, now);
  return {
    id: crypto.randomUUID(),
    title: title || titleFrom(firstUser),
    autoTitle: false,
    createdAt,
    updatedAt: Math.max(createdAt, time(doc.updatedAt, now)),
    systemPrompt,
    ...model,
    messages,
  };
}
