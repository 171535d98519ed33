/**
 * Offline, as a user gets it: after the first visit the service worker has the app shell and
 * IndexedDB has the weights, so with the browser offline a reload still shows the app and a new
 * chat gets a reply.
 */
import { expect, test } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import type { ChatEngine } from '../src/client/openai.ts';

type Win = { phi3: ChatEngine };
let server: ModelServer;

test.beforeAll(async () => {
  server = await startModelServer({ 'tiny.gguf': await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 }) });
});
test.afterAll(async () => server?.close());

test('reload with the network off shows the app (service worker) and chats (weights from IndexedDB)', async ({ page, context }) => {
  test.setTimeout(300_000);
  await page.goto('/');
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
  const id = await page.evaluate(async (url) => (await (window as unknown as Win).phi3.install({ kind: 'url', url })).id, server.url('tiny.gguf'));
  // Make sure the page is controlled by the service worker before cutting the network.
  await page.reload();
  await page.waitForFunction(() => Boolean(navigator.serviceWorker.controller));

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Phi-3 Local Chat', level: 1 })).toBeVisible();
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
  const reply = await page.evaluate(async (modelId) => {
    const phi3 = (window as unknown as Win).phi3;
    await phi3.load({ kind: 'stored', id: modelId, contextLength: 256 });
    const r = await phi3.chat.completions.create({ messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 8, temperature: 0 });
    return r.choices[0].message.content;
  }, id);
  expect(reply.length).toBeGreaterThan(0);
  // And the UI itself is usable offline: the composer appears once the stored model is loaded.
  await expect(page.getByRole('textbox', { name: /message/i })).toBeVisible({ timeout: 120_000 });
  await context.setOffline(false);
});
