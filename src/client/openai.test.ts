/** The OpenAI-shaped client over a fake worker: chunk order, the final chunk, failures and abort. */
import { describe, expect, it } from 'vitest';
import type { ChatDelta, ChatRequest, ChatResult, EngineApi } from '../worker/protocol.ts';
import { createChatEngine, type ChatCompletionChunk } from './openai.ts';
import type { EngineClient } from './engine-client.ts';

const RESULT: ChatResult = {
  text: 'Hi there',
  finishReason: 'stop',
  usage: { promptTokens: 5, completionTokens: 2, totalTokens: 7, cachedPromptTokens: 0 },
  timing: { prefillMs: 10, decodeMs: 20, prefillTokPerS: 500, decodeTokPerS: 50 },
};

/** A worker whose chat streams `deltas`, then settles with `end` (a result, or an error to throw). */
function fakeEngine(deltas: ChatDelta[], end: ChatResult | Error) {
  const calls = { aborts: 0, requests: [] as ChatRequest[] };
  const api = {
    async chat(req: ChatRequest, onDelta?: (d: ChatDelta) => void) {
      calls.requests.push(req);
      for (const d of deltas) {
        await Promise.resolve();
        onDelta?.(d);
      }
      if (end instanceof Error) throw end;
      return end;
    },
    async abort() {
      calls.aborts++;
    },
  } as Partial<EngineApi>;
  const client = { api, terminate() {} } as unknown as EngineClient;
  return { engine: createChatEngine(client), calls };
}

async function collect(it: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const out: ChatCompletionChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const messages = [{ role: 'user' as const, content: 'Hello' }];

describe('chat.completions.create', () => {
  it('streams the role, each delta in order, then the finish reason with usage and timing', async () => {
    const { engine, calls } = fakeEngine([{ text: 'Hi', tokenId: 1 }, { text: ' there', tokenId: 2, top: [[2, -0.1]] }], RESULT);
    const chunks = await collect(await engine.chat.completions.create({ messages, stream: true, temperature: 0 }));
    expect(chunks.map((c) => c.choices[0].delta)).toEqual([{ role: 'assistant', content: '' }, { content: 'Hi' }, { content: ' there' }, {}]);
    expect(chunks[2].choices[0].logprobs).toEqual({ top: [[2, -0.1]] });
    expect(chunks.map((c) => c.choices[0].finish_reason)).toEqual([null, null, null, 'stop']);
    expect(chunks[3].usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7, cached_prompt_tokens: 0 });
    expect(chunks[3].timing).toEqual(RESULT.timing);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.some((c) => 'truncated' in c), 'a conversation that fitted says nothing was left out').toBe(false);
    // `stream` and `signal` stay on this side; the rest is the worker's request
    expect(calls.requests).toEqual([{ messages, temperature: 0 }]);
  });

  it('without stream, joins the text into one completion', async () => {
    const { engine } = fakeEngine([{ text: 'Hi', tokenId: 1 }, { text: ' there', tokenId: 2 }], { ...RESULT, finishReason: 'length' });
    const c = await engine.chat.completions.create({ messages });
    expect(c.choices[0]).toEqual({ index: 0, message: { role: 'assistant', content: 'Hi there' }, finish_reason: 'length' });
    expect(c.usage.total_tokens).toBe(7);
  });

  it('the last chunk, and a completion, say what a conversation longer than the context left out', async () => {
    const truncated = { droppedMessages: 4, droppedTokens: 1230, contextLength: 2048 };
    const { engine } = fakeEngine([{ text: 'Hi', tokenId: 1 }], { ...RESULT, truncated });
    const chunks = await collect(await engine.chat.completions.create({ messages, stream: true }));
    const wire = { dropped_messages: 4, dropped_tokens: 1230, context_length: 2048 };
    expect(chunks.map((c) => c.truncated)).toEqual([undefined, undefined, wire]);
    const c = await engine.chat.completions.create({ messages });
    expect(c.truncated).toEqual(wire);
  });

  it("hands out what streamed before a failure, then throws the worker's error", async () => {
    const failure = Object.assign(new Error('No model is loaded: load one first.'), { name: 'ModelNotLoadedError' });
    const { engine } = fakeEngine([{ text: 'Hi', tokenId: 1 }], failure);
    const seen: string[] = [];
    const run = async () => {
      for await (const c of await engine.chat.completions.create({ messages, stream: true })) seen.push(c.choices[0].delta.content ?? '');
    };
    await expect(run()).rejects.toBe(failure);
    expect(seen).toEqual(['', 'Hi']);
  });

  it('an aborted signal stops the worker (also one aborted before the call)', async () => {
    const { engine, calls } = fakeEngine([], { ...RESULT, finishReason: 'abort' });
    const ac = new AbortController();
    const chunks = await engine.chat.completions.create({ messages, stream: true, signal: ac.signal });
    ac.abort();
    expect((await collect(chunks)).at(-1)?.choices[0].finish_reason).toBe('abort');
    expect(calls.aborts).toBe(1);
    await engine.chat.completions.create({ messages, signal: AbortSignal.abort() });
    expect(calls.aborts).toBe(2);
  });
});
