/**
 * A conversation as a file: Markdown to read or share, JSON that keeps everything (its `messages`
 * can be sent as-is to any OpenAI-style chat API, the system prompt first).
 */
import type { ChatMessage, Conversation } from './conversations.ts';

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
