/**
 * Cancelling a download keeps what was stored and marks nothing ready; installing again finishes
 * the model. Driven through the page's `window.phi3` client against a throttled local server.
 */
import { expect, test } from '@playwright/test';
import { statSync } from 'node:fs';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import type { ChatEngine } from '../src/client/openai.ts';

type Win = { phi3: ChatEngine };
let server: ModelServer;
let size = 0;

test.beforeAll(async () => {
  const path = await ensureModel({ preset: 'tiny', mix: 'q8_0', seed: 1 });
  size = statSync(path).size;
  server = await startModelServer({ 'slow.gguf': path }, { bytesPerSecond: 4 * 2 ** 20 });
});
test.afterAll(async () => server?.close());

test('cancel a download, then install again to finish it', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto('/');
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
  const url = server.url('slow.gguf');
  const cancelled = await page.evaluate(async (u) => {
    const phi3 = (window as unknown as Win).phi3;
    let sawBytes = false;
    const run = phi3.install({ kind: 'url', url: u }, (p) => {
      if (p.phase === 'downloading' && p.bytesDone > 0 && !sawBytes) {
        sawBytes = true;
        void phi3.cancelInstall();
      }
    });
    const error = await run.then(
      () => '',
      (e: Error) => e.name,
    );
    return { error, models: await phi3.listModels() };
  }, url);
  expect(cancelled.error).toBe('AbortError');
  const partial = cancelled.models.find((m) => m.url === url);
  expect(partial?.complete ?? false).toBe(false);

  const finished = await page.evaluate(async (u) => (window as unknown as Win).phi3.install({ kind: 'url', url: u }), url);
  expect(finished.complete).toBe(true);
  expect(finished.storedBytes).toBe(size);
  expect(finished.url).toBe(url);
});
