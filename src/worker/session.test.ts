/**
 * ChatSession on the tiny generated model loaded with a 256-token context, driven well past it:
 * every turn is answered; the model sees the system prompt and the newest whole turns; the
 * dropped counts are what the kept messages say; and the KV cache carries over every turn whose
 * window did not move. Would fail if the session sent the whole conversation (ContextFullError),
 * dropped the system prompt or half a turn, miscounted what it left out, moved the window on a
 * turn where the previous one still fitted (the cache would then be lost every turn), or broke
 * the reply splice that lets the cache cover the previous reply.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fileSource, type FileByteSource } from '../model/source-node.ts';
import { ensureModel } from '../../scripts/test-models.ts';
import { openModel, readModel, type OpenedModel } from '../engine/open.ts';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { encodeChat, type ChatMessage } from '../model/chat-template.ts';
import { ContextFullError } from '../common/errors.ts';
import { ChatSession } from './session.ts';
import { keptMessages, windowBudget } from './context-window.ts';

const gpu = gpuForTests();
const CTX = 256;
const MAX_TOKENS = 8;
const { budget, target } = windowBudget({ contextLength: CTX, maxTokens: MAX_TOKENS });
const SYSTEM = 'You are a careful assistant who answers in one short sentence.';
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

let src: FileByteSource;
let opened: OpenedModel;
beforeAll(async () => {
  src = await fileSource(await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 }));
  opened = await openModel(gpu.device, await readModel(src), { contextLength: CTX });
  return async () => {
    opened.engine.destroy();
    await src.close();
  };
});
afterEach(() => {
  vi.restoreAllMocks();
  opened.engine.reset();
});

/** A session over the loaded engine, with the GGUF's chat template or another one. */
function session(template?: string): ChatSession {
  if (template === undefined) return new ChatSession(opened);
  const metadata = new Map(opened.file.metadata);
  metadata.set('tokenizer.chat_template', template);
  return new ChatSession({ ...opened, file: { ...opened.file, metadata } });
}

interface Turn {
  prompt: number[];
  dropped: number;
  droppedTokens: number;
  cached: number;
  /** The tokens the cache held before this turn. */
  before: readonly number[];
}

/** Runs `turns` questions through `s`, each reply sent back verbatim as the UI does. */
async function converse(s: ChatSession, turns: number, template?: string): Promise<{ log: Turn[]; messages: ChatMessage[] }> {
  const generate = vi.spyOn(opened.engine, 'generate');
  const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM }];
  const log: Turn[] = [];
  for (let i = 0; i < turns; i++) {
    messages.push({ role: 'user', content: `Question ${i}: what do you know about the number ${i * 7 + 3}?` });
    const before = [...opened.engine.cachedTokens];
    const r = await s.chat({ messages: [...messages], max_tokens: MAX_TOKENS, temperature: 0, seed: 1 });
    expect(['stop', 'length'], `turn ${i}`).toContain(r.finishReason);
    const prompt = generate.mock.calls[i][0];
    expect(r.usage.promptTokens).toBe(prompt.length);
    const dropped = r.truncated?.droppedMessages ?? 0;
    if (r.truncated) expect(r.truncated.contextLength).toBe(CTX);
    // What the result says was left out is what the kept messages leave out.
    const kept = keptMessages(messages, dropped);
    const enc = (ms: ChatMessage[]) => encodeChat(opened.tokenizer, ms, { template: template ?? (opened.file.metadata.get('tokenizer.chat_template') as string), addGenerationPrompt: true });
    expect(r.truncated?.droppedTokens ?? 0, `turn ${i}`).toBe(enc(messages).length - enc(kept).length);
    log.push({ prompt, dropped, droppedTokens: r.truncated?.droppedTokens ?? 0, cached: r.usage.cachedPromptTokens, before });
    messages.push({ role: 'assistant', content: r.text });
  }
  return { log, messages };
}

/** The length of the common prefix of a and b, as the engine keeps it (at least the last prompt token runs). */
function reusable(cache: readonly number[], prompt: readonly number[]): number {
  let n = 0;
  while (n < cache.length && n < prompt.length - 1 && cache[n] === prompt[n]) n++;
  return n;
}

describe('ChatSession past the context', () => {
  it('keeps answering with the system prompt and the newest whole turns, and reuses the KV cache while the window holds', async () => {
    const s = session();
    const { log, messages } = await converse(s, 16);
    const rows = log.map((t, i) => ({ turn: i, prompt: t.prompt.length, cached: t.cached, prefilled: t.prompt.length - t.cached, dropped: t.dropped, droppedTokens: t.droppedTokens }));
    console.log(`[session] ${CTX}-token context, budget ${budget}, target ${target}:\n${rows.map((r) => JSON.stringify(r)).join('\n')}`);

    expect(log[0].dropped).toBe(0);
    expect(log[log.length - 1].dropped, 'the conversation outgrew the context').toBeGreaterThan(0);
    let moves = 0;
    log.forEach((t, i) => {
      expect(t.prompt.length, `turn ${i}`).toBeLessThanOrEqual(budget);
      const text = opened.tokenizer.decode(t.prompt);
      expect(text, `turn ${i}: the system prompt`).toContain(SYSTEM);
      expect(text, `turn ${i}: the newest question`).toContain(`Question ${i}:`);
      // whole turns: the dropped messages are complete question-and-answer pairs, and the first kept one is a question
      expect(t.dropped % 2, `turn ${i}`).toBe(0);
      for (let q = 0; q < i; q++) expect(text.includes(`Question ${q}:`), `turn ${i}, question ${q}`).toBe(q >= t.dropped / 2);
      // the engine reused exactly the common prefix of its cache and the prompt
      expect(t.cached, `turn ${i}`).toBe(reusable(t.before, t.prompt));
      if (i === 0) return;
      const prev = log[i - 1];
      if (t.dropped === prev.dropped) {
        // an unchanged window: the whole cache (previous prompt and reply) is reused
        expect(t.cached, `turn ${i}`).toBe(t.before.length);
        expect(t.cached, `turn ${i}`).toBeGreaterThanOrEqual(prev.prompt.length);
      } else {
        moves++;
        expect(t.dropped, `turn ${i}: the window only moves forward`).toBeGreaterThan(prev.dropped);
        // It moved because the old window no longer fitted, and went down to the target. The
        // session measures prompts with the replies as generated, whose re-tokenized text here
        // may differ by a token, hence the margin of 2.
        const enc = (d: number) => encodeChat(opened.tokenizer, keptMessages(messages.slice(0, 2 * i + 2), d), { template: opened.file.metadata.get('tokenizer.chat_template') as string, addGenerationPrompt: true });
        expect(enc(prev.dropped).length, `turn ${i}`).toBeGreaterThan(budget - 2);
        expect(t.prompt.length, `turn ${i}`).toBeLessThanOrEqual(target + 2);
        // the system prompt's tokens are still in the cache
        expect(t.cached, `turn ${i}`).toBeGreaterThan(opened.tokenizer.encode(SYSTEM).length);
      }
    });
    // Each move frees a quarter of the context, several turns' worth: most turns reuse the whole cache.
    expect(moves).toBeGreaterThan(0);
    expect(moves).toBeLessThanOrEqual(Math.ceil(log.filter((t) => t.dropped > 0).length / 2));
  });

  it('works with another chat template (ChatML markup, rendered as text by this vocabulary)', async () => {
    const s = session(CHATML);
    const { log } = await converse(s, 12, CHATML);
    expect(log[log.length - 1].dropped).toBeGreaterThan(0);
    log.forEach((t, i) => {
      expect(t.prompt.length).toBeLessThanOrEqual(budget);
      const text = opened.tokenizer.decode(t.prompt);
      expect(text, `turn ${i}`).toContain(`<|im_start|>system\n${SYSTEM}<|im_end|>`);
      expect(text.indexOf('<|im_start|>system'), `turn ${i}: the system message comes first`).toBeLessThan(text.indexOf('<|im_start|>user'));
      expect(text).toContain(`Question ${i}:`);
    });
  });

  it('refuses a newest message that cannot fit with room for the reply, saying how long it is, and goes on after it', async () => {
    const s = session();
    const long = Array.from({ length: 150 }, (_, i) => `word${i}`).join(' ');
    const messages: ChatMessage[] = [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: long },
    ];
    const err = await s.chat({ messages, max_tokens: MAX_TOKENS, temperature: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextFullError);
    expect((err as Error).message).toMatch(new RegExp(`^The newest message needs \\d+ tokens of prompt .* but only ${budget} fit in the ${CTX}-token context`));
    const r = await s.chat({ messages: [messages[0], { role: 'user', content: 'Hello' }], max_tokens: MAX_TOKENS, temperature: 0 });
    expect(r.truncated).toBeUndefined();
    expect(['stop', 'length']).toContain(r.finishReason);
  });
});
