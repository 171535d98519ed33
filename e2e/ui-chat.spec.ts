/**
 * The chat UI end to end, driven only through roles and labels: `?model=<url>` offers a served
 * tiny model, it is downloaded (progress bar), loaded, and chatted with; a reply streams in, Stop
 * and Escape end a long reply, and markup typed by the user stays text (no element, no dialog).
 * Screenshots of each screen at desktop and phone size land in test-results/screens/.
 */
import { expect, test, type Locator, type Page } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { DESKTOP, SCREENS, shoot } from './screens.ts';

let server: ModelServer;

test.beforeAll(async () => {
  const path = await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 });
  server = await startModelServer({ 'tiny-q4_0.gguf': path });
});
test.afterAll(async () => server?.close());

/** A reply's own text: the item's text without its screen-reader label and its speed line. */
async function replyText(item: Locator): Promise<string> {
  const all = (await item.textContent()) ?? '';
  return all.replace(/^.*? replied:/s, '').replace(/(prefill|decode) [\d.]+ tok\/s.*$/s, '');
}

async function settings(page: Page, values: Record<string, string>) {
  const maxTokens = page.getByLabel('Max tokens');
  if (!(await maxTokens.isVisible())) await page.getByText('Settings', { exact: true }).click();
  for (const [label, v] of Object.entries(values)) await page.getByLabel(label, { exact: true }).fill(v);
}

test('download a model by URL, chat with it, stop replies, markup stays text', async ({ page }) => {
  test.setTimeout(900_000);
  const dialogs: string[] = [];
  const errors: string[] = [];
  let confirmDelete = false; // only the Delete button may open a dialog, and only at the end
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void (confirmDelete && d.type() === 'confirm' ? d.accept() : d.dismiss());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  const url = server.url('tiny-q4_0.gguf');
  const t0 = Date.now();
  const mark = (what: string) => console.log(`[ui-chat] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // 1. No model yet: the picker offers the default download and the ?model= URL.
  await page.setViewportSize(DESKTOP);
  await page.goto(`/?model=${encodeURIComponent(url)}`);
  await expect(page.getByRole('heading', { name: 'Choose a model' })).toBeVisible();
  await expect(page.getByRole('radio', { name: 'Phi-3 mini 4k instruct' })).toBeChecked();
  await expect(page.getByRole('article', { name: /Phi-3 mini 4k instruct/ }).getByText('about 2.39 GB')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Download', exact: true })).toBeEnabled();
  await expect(page.getByLabel('Import a .gguf file')).toBeAttached();
  const urlBox = page.getByRole('textbox', { name: 'Model URL' });
  await expect(urlBox).toHaveValue(url);
  // The capability check is folded into "GPU details", its test ids intact.
  await expect(page.getByRole('heading', { name: 'WebGPU is available' })).toBeVisible();
  expect((await page.getByTestId('adapter-name').textContent())?.toLowerCase()).toContain('swiftshader');
  await expect(page.getByTestId('selftest-summary')).toHaveText('All kernels match their CPU reference.');
  await expect(page.getByTestId('selftest-row')).toHaveCount(2);
  await shoot(page, '1-picker');

  // 2. Download: a progress bar with a title naming the file, then loading, then the chat.
  await page.getByRole('button', { name: 'Download from URL' }).click();
  await expect(page.getByRole('heading', { name: 'Downloading tiny-q4_0.gguf' })).toBeVisible();
  await expect(page.getByRole('progressbar', { name: 'Downloading tiny-q4_0.gguf' })).toBeVisible();
  mark('download started');
  await expect(page.getByRole('heading', { name: /^Loading / })).toBeVisible({ timeout: 120_000 });
  mark('loading');
  await page.screenshot({ path: `${SCREENS}/2-loading-desktop.png` });
  const composer = page.getByRole('textbox', { name: 'Message' });
  await expect(composer).toBeVisible({ timeout: 300_000 });
  await expect(page.getByRole('progressbar')).toHaveCount(0);
  mark('chat ready');
  // The installed model is listed with its size and a Delete button.
  const models = page.getByRole('complementary', { name: 'Models and GPU' });
  await expect(models.getByText('tiny-q4_0.gguf')).toBeVisible();
  await expect(models.getByRole('button', { name: /^Delete / })).toBeVisible();

  // 3. Shift+Enter is a newline, not a send.
  await composer.fill('a');
  await composer.press('Shift+Enter');
  await composer.pressSequentially('b');
  await expect(composer).toHaveValue('a\nb');
  const conversation = page.getByRole('list', { name: 'Conversation' });
  await expect(conversation.getByRole('listitem')).toHaveCount(1); // the empty-state hint
  await composer.fill('');

  // 4. Enter sends; the reply streams in and ends with its speed.
  await settings(page, { 'Max tokens': '12', Temperature: '0' });
  await composer.fill('Tell me about printing presses.');
  await composer.press('Enter');
  await expect(composer).toHaveValue('');
  const items = conversation.getByRole('listitem');
  await expect(items.nth(0)).toContainText('You said:Tell me about printing presses.');
  const stop = page.getByRole('button', { name: 'Stop' });
  const send = page.getByRole('button', { name: 'Send' });
  await expect(stop).toBeEnabled();
  await expect(items.nth(1)).toContainText(/decode [\d.]+ tok\/s/, { timeout: 300_000 });
  mark('first reply done');
  expect((await replyText(items.nth(1))).trim().length).toBeGreaterThan(0);
  await expect(items.nth(1)).toContainText(/prefill [\d.]+ tok\/s/);
  await expect(stop).toBeDisabled();

  // 5. A long reply, stopped by the Stop button once text has streamed.
  await settings(page, { 'Max tokens': '300' });
  await composer.fill('Now write a very long story about them.');
  await composer.press('Enter');
  await expect(send).toBeDisabled();
  await expect.poll(async () => (await replyText(items.nth(3))).trim().length, { timeout: 300_000 }).toBeGreaterThan(0);
  mark('second reply streaming');
  await stop.click();
  await expect(stop).toBeDisabled({ timeout: 120_000 });
  await expect(items.nth(3)).toContainText('stopped');
  mark('second reply stopped');
  const stoppedAt = await replyText(items.nth(3));

  // 6. Markup in a message is shown as text; Escape stops that reply.
  const markup = '<img src=x onerror=alert(1)><script>alert(2)</script>';
  await composer.fill(markup);
  await composer.press('Enter');
  await expect(conversation.getByText(markup, { exact: true })).toBeVisible();
  await expect(conversation.locator('img, script')).toHaveCount(0);
  await expect(stop).toBeEnabled();
  await expect.poll(async () => (await replyText(items.nth(5))).trim().length, { timeout: 300_000 }).toBeGreaterThan(0);
  await composer.press('Escape');
  await expect(stop).toBeDisabled({ timeout: 120_000 });
  await expect(items.nth(5)).toContainText('stopped');
  mark('third reply stopped by Escape');
  // The stopped reply did not grow after Stop.
  expect(await replyText(items.nth(3))).toBe(stoppedAt);

  await shoot(page, '3-chat');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shoot(page, '4-chat-dark');
  expect(dialogs).toEqual([]);
  await expect(page.getByRole('alert')).toHaveCount(0);

  // 7. Delete asks first, then the model is gone and the picker is back.
  await page.emulateMedia({ colorScheme: 'light' });
  confirmDelete = true;
  await models.getByRole('button', { name: 'Delete tiny-q4_0.gguf' }).click();
  await expect(page.getByRole('heading', { name: 'Choose a model' })).toBeVisible();
  expect(dialogs).toEqual([expect.stringContaining('Delete tiny-q4_0.gguf')]);
  await expect(models.getByText('None installed yet.')).toBeVisible();
  expect(errors).toEqual([]);
});
