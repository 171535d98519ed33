import { describe, expect, test } from 'vitest';
import type { Conversation } from './conversations.ts';
import { exportFileName, toJSON, toMarkdown } from './export.ts';

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
    { id: 'm4', role: 'assistant', content: 'It used', finish: 'abort' },
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
        { role: 'assistant', content: 'It used', finish_reason: 'abort' },
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
