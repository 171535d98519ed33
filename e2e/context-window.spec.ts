/**
 * A conversation longer than the context, end to end: the tiny model loaded with a 256-token
 * context (the remembered context-length choice) is asked long questions until they no longer
 * fit; it keeps answering, the oldest messages are kept on screen but faded and labelled as no
 * longer seen by the model, a notice where they stop says how many (and the status line says it
 * too), and the model's view follows as the conversation grows; all of it is stored as shown.
 * A message too long to fit on its own gets an error saying so. axe checks the chat with the notice. Would fail if the worker sent the whole conversation (the engine refuses a prompt
 * longer than the context), if the UI dropped or hid the old messages, or marked the wrong ones.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import type { ChatEngine } from '../src/client/openai.ts';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { DESKTOP, shoot } from './screens.ts';

type Win = { phi3: ChatEngine };
let server: ModelServer;

test.beforeAll(async () => {
  server = await startModelServer({ 'tiny-q4_0.gguf': await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 }) });
});
test.afterAll(async () => server?.close());

const items = (page: Page) => page.getByRole('list', { name: 'Conversation' }).locator(':scope > li');
/** Sends a question and waits for its reply (the `index`th message) to end with its token count; no error. */
async function ask(page: Page, text: string, index: number) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
  await expect(messages(page).nth(index).locator('.msg-meta')).toContainText(/ · \d+ tokens? · /, { timeout: 120_000 });
  expect(await page.getByRole('alert').allTextContents()).toEqual([]);
}

/** The messages alone, without the notice. */
const messages = (page: Page) => page.getByRole('list', { name: 'Conversation' }).locator(':scope > li.msg');
const composer = (page: Page) => page.getByRole('textbox', { name: 'Message', exact: true });

/** A question of about 45 tokens: five of them (with replies) outgrow a 256-token context. */
const question = (i: number) => `Question ${i}: ${Array.from({ length: 12 }, (_, k) => `item${i * 12 + k}`).join(' ')}?`;

test('a conversation past the context keeps answering and shows which messages the model no longer sees', async ({ page }) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const t0 = Date.now();
  const mark = (what: string) => console.log(`[context-window] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await page.setViewportSize(DESKTOP);

  // 1. Install the tiny model, remember a 256-token context, reload: the app loads it with that.
  await page.goto('/');
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
  await page.evaluate(async (url) => {
    await (window as unknown as Win).phi3.install({ kind: 'url', url });
    localStorage.setItem('phi3.contextLength', '256');
  }, server.url('tiny-q4_0.gguf'));
  await page.reload();
  await expect(composer(page)).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('context-usage')).toHaveText('0 / 256 tokens');
  mark('chat ready');
  await page.getByText('Settings', { exact: true }).click();
  for (const [label, v] of Object.entries({ 'Max tokens': '8', Temperature: '0', 'System prompt': 'Answer in one line.' })) {
    await page.getByLabel(label, { exact: true }).fill(v);
  }

  // 2. Ask until the conversation no longer fits (each reply ends with its token count).
  const notice = page.getByTestId('context-cut');
  let turns = 0;
  while ((await notice.count()) === 0) {
    expect(turns, 'the conversation outgrew the context within 8 turns').toBeLessThan(8);
    await ask(page, question(turns), 2 * turns + 1);
    turns++;
    mark(`turn ${turns}: ${await page.getByTestId('context-usage').textContent()}`);
  }
  mark(`truncated after ${turns} turns`);

  // 3. The notice says how many of the oldest messages the model no longer sees, and why.
  const text = (await notice.textContent()) ?? '';
  const m = /^The model no longer sees the (\d+) oldest messages \(([\d,]+) tokens\): the conversation is longer than its 256-token context\.$/.exec(text);
  expect(m, text).not.toBeNull();
  const dropped = Number(m![1]);
  expect(dropped % 2, 'whole turns (a question and its reply) are left out').toBe(0);
  expect(dropped).toBeGreaterThan(0);
  expect(dropped).toBeLessThan(2 * turns - 1);
  await expect(page.getByRole('status').filter({ hasText: text })).toBeAttached();

  // Every message is still there, in order; the notice comes right after the last left-out one.
  const all = items(page);
  await expect(all).toHaveCount(2 * turns + 1);
  await expect(all.nth(dropped)).toHaveAttribute('data-testid', 'context-cut');
  for (let i = 0; i < 2 * turns + 1; i++) {
    if (i === dropped) continue;
    const item = all.nth(i);
    const unseen = i < dropped;
    if (i % 2 === 0 && i < dropped) await expect(item).toContainText(question(i / 2));
    if (i > dropped && (i - 1) % 2 === 0) await expect(item).toContainText(question((i - 1) / 2));
    await expect(item.getByText('not seen by the model', { exact: true }), `item ${i}`).toHaveCount(unseen ? 1 : 0);
    if (unseen) await expect(item, `item ${i}`).toContainText('(no longer seen by the model):');
  }
  // The meter counts what the model saw: within the context.
  const used = Number(await page.getByRole('meter', { name: 'Context' }).getAttribute('value'));
  expect(used).toBeLessThanOrEqual(256);
  await notice.evaluate((el) => el.scrollIntoView({ block: 'center' }));
  await shoot(page, 'context-window');
  const r = await new AxeBuilder({ page }).include('.chat-shell').analyze();
  expect(r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  // 4. It keeps answering, and the left-out part only grows, by whole turns.
  for (let k = 0; k < 2; k++) {
    await ask(page, question(turns), 2 * turns + 1);
    turns++;
  }
  const later = Number(/the (\d+) oldest/.exec((await notice.textContent()) ?? '')?.[1]);
  expect(later).toBeGreaterThanOrEqual(dropped);
  expect(later % 2).toBe(0);
  await expect(all).toHaveCount(2 * turns + 1);
  await expect(page.getByRole('alert')).toHaveCount(0);
  mark(`${turns} turns`);

  // 5. Stored as shown: after a reload every message is back, with the same notice in the same place.
  const shown = (await notice.textContent()) ?? '';
  await page.reload();
  await expect(composer(page)).toBeVisible({ timeout: 120_000 });
  await expect(notice).toHaveText(shown);
  await expect(all).toHaveCount(2 * turns + 1);
  await expect(all.nth(later)).toHaveAttribute('data-testid', 'context-cut');
  await expect(all.nth(0)).toContainText(question(0));

  // 6. A message too long to fit on its own is refused, saying its length and what fits; nothing is lost.
  await composer(page).fill(Array.from({ length: 120 }, (_, k) => `word${k}`).join(' '));
  await composer(page).press('Enter');
  await expect(page.getByRole('alert')).toContainText(/The newest message needs \d+ tokens of prompt .*but only 248 fit in the 256-token context, which keeps 8 for the reply/);
  await expect(notice).toHaveText(shown);
  await expect(all).toHaveCount(2 * turns + 3);
  expect(errors).toEqual([]);
});
