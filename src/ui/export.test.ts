import { describe, expect, test } from 'vitest';
import type { Conversation } from './conversations.ts';
import { exportFileName, fromJSON, toJSON, toMarkdown } from './export.ts';

const usage = { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23, cached_prompt_tokens: 0 };
const timing = { prefillMs: 100, decodeMs: 200, prefillTokPerS: 200, decodeTokPerS: 10 };

const conv: Conversation = {
  id: 'c1',
  title: 'Printing   presses',
  autoTitle: false,
  createdAt: Date.UTC(2026, 10, 27, 14, 5, 9),
  updatedAt: Date.UTC(2026, 10, 27, 14, 6, 0),
  systemPrompt: 'Answer briefly.\n',
  modelId: 'url:http://localhost/tiny.gguf',
  modelName: 'tiny.gguf',
  messages: [
    { id: 'm1', role: 'user', content: 'Who built the first one?' },
    { id: 'm2', role: 'assistant', content: 'Gutenberg, around **1440**.\n\n- movable type', finish: 'stop', usage, timing },
    { id: 'm3', role: 'user', content: 'Tell me more' },
    { id: 'm4', role: 'assistant', content: 'It used', finish: 'abort', truncated: { dropped_messages: 2, dropped_tokens: 30, context_length: 256 } },
    { id: 'm5', role: 'user', content: 'Again' },
    { id: 'm6', role: 'assistant', content: '', error: 'DeviceLostError: the GPU was lost' },
  ],
};

describe('export', () => {
  test('Markdown: title, date, model, system prompt, turns in order, stopped and failed replies marked', () => {
    expect(toMarkdown(conv)).toBe(
      [
        '# Printing presses',
        '',
        '- Created: 2026-11-27T14:05:09.000Z',
        '- Model: tiny.gguf',
        '',
        '## System',
        '',
        'Answer briefly.',
        '',
        '## User',
        '',
        'Who built the first one?',
        '',
        '## Assistant',
        '',
        'Gutenberg, around **1440**.\n\n- movable type',
        '',
        '## User',
        '',
        'Tell me more',
        '',
        '## Assistant',
        '',
        'It used',
        '',
        '_(stopped)_',
        '',
        '## User',
        '',
        'Again',
        '',
        '## Assistant',
        '',
        '_(failed: DeviceLostError: the GPU was lost)_',
        '',
      ].join('\n'),
    );
  });

  test('Markdown without system prompt or model', () => {
    const c: Conversation = { ...conv, systemPrompt: ' ', modelId: undefined, modelName: undefined, messages: [{ id: 'm', role: 'user', content: 'Hi' }] };
    expect(toMarkdown(c)).toBe('# Printing presses\n\n- Created: 2026-11-27T14:05:09.000Z\n\n## User\n\nHi\n');
  });

  test('JSON: OpenAI-style messages (system first) plus metadata, and nothing lost', () => {
    const doc = JSON.parse(toJSON(conv));
    expect(doc).toEqual({
      format: 'phi3-local-chat.conversation',
      version: 1,
      id: 'c1',
      title: 'Printing   presses',
      createdAt: '2026-11-27T14:05:09.000Z',
      updatedAt: '2026-11-27T14:06:00.000Z',
      model: { id: 'url:http://localhost/tiny.gguf', name: 'tiny.gguf' },
      messages: [
        { role: 'system', content: 'Answer briefly.\n' },
        { role: 'user', content: 'Who built the first one?' },
        { role: 'assistant', content: 'Gutenberg, around **1440**.\n\n- movable type', finish_reason: 'stop', usage, timing },
        { role: 'user', content: 'Tell me more' },
        { role: 'assistant', content: 'It used', finish_reason: 'abort', truncated: { dropped_messages: 2, dropped_tokens: 30, context_length: 256 } },
        { role: 'user', content: 'Again' },
        { role: 'assistant', content: '', error: 'DeviceLostError: the GPU was lost' },
      ],
    });
    expect(toJSON(conv).endsWith('}\n')).toBe(true);
  });

  test('file names from titles', () => {
    expect(exportFileName('Printing presses', 'md')).toBe('Printing-presses.md');
    expect(exportFileName('  What is 2+2? / ok…', 'json')).toBe('What-is-2-2-ok.json');
    expect(exportFileName('Grüße, 東京!', 'md')).toBe('Grüße-東京.md');
    expect(exportFileName('../../etc/passwd', 'md')).toBe('etc-passwd.md');
    expect(exportFileName('???', 'json')).toBe('chat.json');
    expect(exportFileName('x'.repeat(100), 'md')).toBe(`${'x'.repeat(60)}.md`);
  });
});

describe('import', () => {
  const strip = (c: Conversation) => ({ ...c, id: '', messages: c.messages.map((m) => ({ ...m, id: '' })) });

  test('a JSON export comes back as the same conversation, with new ids', () => {
    const back = fromJSON(toJSON(conv));
    expect(back.id).not.toBe(conv.id);
    expect(new Set(back.messages.map((m) => m.id)).size).toBe(conv.messages.length);
    expect(back.messages.map((m) => m.id)).not.toContain('m1');
    // the title comes back cleaned to one line, as the sidebar shows it
    expect(strip(back)).toEqual(strip({ ...conv, title: 'Printing presses' }));
  });

  test('without a system prompt, title or dates: empty prompt, title from the first question, now', () => {
    const doc = JSON.parse(toJSON({ ...conv, systemPrompt: '' })) as Record<string, unknown>;
    delete doc.title;
    delete doc.createdAt;
    delete doc.updatedAt;
    delete (doc.messages as Record<string, unknown>[])[1].usage;
    const back = fromJSON(JSON.stringify(doc), 1234);
    expect(back.systemPrompt).toBe('');
    expect(back.title).toBe('Who built the first one?');
    expect([back.createdAt, back.updatedAt]).toEqual([1234, 1234]);
    expect(back.messages[1].usage).toBeUndefined();
    expect(back.messages[1].timing).toEqual(timing);
  });

  test('anything else gets an error that says what is wrong', () => {
    const good = JSON.parse(toJSON(conv)) as Record<string, unknown>;
    const bad = (patch: Record<string, unknown>) => JSON.stringify({ ...good, ...patch });
    expect(() => fromJSON('# Printing presses\n')).toThrow(/not JSON/);
    expect(() => fromJSON('[1, 2]')).toThrow(/not a conversation exported by this app/);
    expect(() => fromJSON(bad({ format: 'other' }))).toThrow(/not a conversation exported by this app/);
    expect(() => fromJSON(bad({ version: 2 }))).toThrow(/version 2 is not supported/);
    expect(() => fromJSON(bad({ messages: 'hi' }))).toThrow(/no "messages" list/);
    expect(() => fromJSON(bad({ messages: [{ role: 'user' }] }))).toThrow(/message 1 has no text/);
    expect(() => fromJSON(bad({ messages: [{ role: 'user', content: 'a' }, { role: 'tool', content: 'b' }] }))).toThrow(/message 2 has role "tool"/);
    expect(() => fromJSON(bad({ messages: [{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }] }))).toThrow(/a system prompt comes first/);
    expect(() => fromJSON(' '.repeat(20_000_001))).toThrow(/at most 20 MB/);
  });
});
