/**
 * The worker API end to end in Chromium: install a generated model from a local server into
 * IndexedDB (download), load it from the store, stream a chat reply through the OpenAI-shaped
 * client, reuse the KV cache on the second turn, and chat again after a reload with the network
 * off (weights from IndexedDB only).
 */
import { expect, test, type Page } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import type { ChatEngine } from '../src/client/openai.ts';

let server: ModelServer;
let bytes = 0;

test.beforeAll(async () => {
  const path = await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 });
  server = await startModelServer({ 'tiny-q4_0.gguf': path });
  bytes = (await import('node:fs')).statSync(path).size;
});
test.afterAll(async () => server?.close());

type Win = { phi3: ChatEngine };

async function ready(page: Page) {
  await page.goto('/');
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
}

test('install, load from IndexedDB, stream a reply, second turn reuses the cache, device loss recovers, offline reload chats', async ({ page, context }) => {
  test.setTimeout(600_000);
  await ready(page);
  const url = server.url('tiny-q4_0.gguf');

  const installed = await page.evaluate(async (u) => {
    const phases = new Set<string>();
    const m = await (window as unknown as Win).phi3.install({ kind: 'url', url: u }, (p) => phases.add(p.phase));
    return { m, phases: [...phases] };
  }, url);
  expect(installed.m.complete).toBe(true);
  expect(installed.phases).toContain('downloading');
  expect(installed.m.storedBytes).toBe(bytes);
  expect(server.bytesServed).toBe(bytes);

  const first = await page.evaluate(async (id) => {
    const phi3 = (window as unknown as Win).phi3;
    await phi3.load({ kind: 'stored', id, contextLength: 256 });
    const chunks: unknown[] = [];
    const stream = await phi3.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me about printing presses.' }], stream: true, max_tokens: 12, temperature: 0 });
    let text = '';
    for await (const c of stream) {
      chunks.push(c);
      text += c.choices[0].delta.content ?? '';
    }
    const second = await phi3.chat.completions.create({
      messages: [
        { role: 'user', content: 'Tell me about printing presses.' },
        { role: 'assistant', content: text },
        { role: 'user', content: 'And books?' },
      ],
      max_tokens: 4,
      temperature: 0,
    });
    return { chunks, text, second, stats: await phi3.stats() };
  }, installed.m.id);
  type Chunk = { choices: { delta: { content?: string }; finish_reason: string | null }[]; usage?: { prompt_tokens: number; completion_tokens: number; cached_prompt_tokens: number } };
  const chunks = first.chunks as Chunk[];
  const last = chunks.at(-1) as Chunk;
  expect(chunks.length).toBeGreaterThan(2);
  expect(last.choices[0].finish_reason).toMatch(/^(stop|length)$/);
  expect(last.usage?.completion_tokens).toBeGreaterThan(0);
  expect(first.text.length).toBeGreaterThan(0);
  // Second turn: everything up to the first reply was cached, only the new tail was prefilled.
  // (the first prompt and the reply's own tokens are in the KV cache; the engine counts what it prefilled)
  const firstTotal = last.usage!.prompt_tokens + last.usage!.completion_tokens;
  expect(first.second.usage.cached_prompt_tokens).toBeGreaterThanOrEqual(firstTotal - 1);
  const newTokens = first.second.usage.prompt_tokens - first.second.usage.cached_prompt_tokens;
  expect(newTokens).toBeLessThan(12); // <|end|> <|user|> ▁And ▁books ? <|end|> <|assistant|> and the last reply token
  expect(first.stats.prefillTokens).toBe(last.usage!.prompt_tokens + newTokens + 1); // +1: the load-time warm-up token

  // Device loss: the worker notices, makes a new device, reloads the weights from IndexedDB, and
  // the next request works without a page reload (same greedy reply as before).
  // The loss happens in the middle of a reply: that reply fails with a DeviceLostError.
  const recovered = await page.evaluate(async () => {
    const phi3 = (window as unknown as Win).phi3;
    const stream = await phi3.chat.completions.create({ messages: [{ role: 'user', content: 'Write a long story.' }], stream: true, max_tokens: 200, temperature: 0 });
    let error = '';
    let chunks = 0;
    try {
      for await (const _c of stream) {
        if (++chunks === 2) await phi3.client.api.loseDevice();
      }
    } catch (e) {
      error = (e as Error).name;
    }
    const r = await phi3.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me about printing presses.' }], max_tokens: 12, temperature: 0 });
    return { error, text: r.choices[0].message.content, stats: await phi3.stats() };
  });
  expect(recovered.error).toBe('DeviceLostError');
  expect(recovered.stats.deviceLosses).toBe(1);
  expect(recovered.text).toBe(first.text);

  // Offline: a fresh page, no network to the model server, weights only from IndexedDB.
  await server.close();
  await page.reload();
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
  const offline = await page.evaluate(async (id) => {
    const phi3 = (window as unknown as Win).phi3;
    const list = await phi3.listModels();
    await phi3.load({ kind: 'stored', id, contextLength: 256 });
    const r = await phi3.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me about printing presses.' }], max_tokens: 12, temperature: 0 });
    return { list, text: r.choices[0].message.content };
  }, installed.m.id);
  expect(offline.list.map((m) => m.id)).toContain(installed.m.id);
  expect(offline.text).toBe(first.text);
  void context;
});
