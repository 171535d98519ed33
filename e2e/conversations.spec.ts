/**
 * Saved conversations end to end, driven through roles and labels: two chats survive a reload
 * with their messages (and the sampling settings); rename, delete (and undo), export as
 * Markdown/JSON (the downloaded bytes compared exactly) and import of the JSON, regenerate,
 * edit-and-resend, copy, the context meter, and a reply cut by a reload that comes back as
 * stopped. Screenshots (desktop and phone, light and dark, the phone drawer) land in
 * $PW_OUT/screens; axe checks the chat and the sidebar.
 */
import { readFile } from 'node:fs/promises';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Download, type Page } from '@playwright/test';
import type { ChatEngine } from '../src/client/openai.ts';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { DESKTOP, PHONE, SCREENS } from './screens.ts';

type Win = { phi3: ChatEngine };
let server: ModelServer;

test.beforeAll(async () => {
  server = await startModelServer({ 'tiny-q4_0.gguf': await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 }) });
});
test.afterAll(async () => server?.close());

const nav = (page: Page) => page.getByRole('navigation', { name: 'Conversations' });
/** The conversation's own items (a reply's Markdown may hold lists of its own). */
const items = (page: Page) => page.getByRole('list', { name: 'Conversation' }).locator(':scope > li');
const composer = (page: Page) => page.getByRole('textbox', { name: 'Message', exact: true });

async function settings(page: Page, values: Record<string, string>) {
  const maxTokens = page.getByLabel('Max tokens');
  if (!(await maxTokens.isVisible())) await page.getByText('Settings', { exact: true }).click();
  for (const [label, v] of Object.entries(values)) await page.getByLabel(label, { exact: true }).fill(v);
}

/** Sends a message and waits for its reply to end (its meta line says how many tokens). */
async function ask(page: Page, text: string, replyIndex: number) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
  await expect(items(page).nth(replyIndex).locator('.msg-meta')).toContainText(/\d+ tokens?/, { timeout: 300_000 });
}

async function downloadText(page: Page, button: string): Promise<{ name: string; text: string; dl: Download }> {
  const [dl] = await Promise.all([page.waitForEvent('download'), nav(page).getByRole('button', { name: button, exact: true }).click()]);
  return { name: dl.suggestedFilename(), text: await readFile(await dl.path(), 'utf8'), dl };
}

async function axe(page: Page, what: string) {
  const r = await new AxeBuilder({ page }).include('.chat-shell').analyze();
  expect(
    r.violations.map((v) => `${what}: ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    'axe violations',
  ).toEqual([]);
}

async function shoot(page: Page, name: string) {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: `${SCREENS}/conv-${name}-desktop-${scheme}.png` });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: `${SCREENS}/conv-${name}-phone-${scheme}.png` });
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(DESKTOP);
}

test('conversations persist and are managed from the sidebar; chat controls', async ({ page, context }) => {
  test.setTimeout(1_200_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const t0 = Date.now();
  const mark = (what: string) => console.log(`[conversations] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.setViewportSize(DESKTOP);

  // 1. Install the tiny model through the API; on reload the app loads it by itself.
  await page.goto('/');
  await page.waitForFunction(() => Boolean((window as unknown as Win).phi3));
  await page.evaluate(async (url) => void (await (window as unknown as Win).phi3.install({ kind: 'url', url })), server.url('tiny-q4_0.gguf'));
  await page.reload();
  await expect(composer(page)).toBeVisible({ timeout: 300_000 });
  mark('chat ready');
  const list = nav(page);
  await expect(list.getByText('Your chats are saved on this device')).toBeVisible();
  // The tiny model's own context length caps the one the app asks for.
  await expect(page.getByTestId('context-usage')).toHaveText(/^0 \/ [\d,]+ tokens$/);
  const ctx = /\/ ([\d,]+) tokens/.exec((await page.getByTestId('context-usage').textContent()) ?? '')?.[1];
  await expect(list.getByRole('button', { name: 'Markdown' })).toBeDisabled();

  // 2. Two conversations. The first gets a title from its first message and fills the meter.
  // A system prompt for this conversation only (sent first; checked in the JSON export below).
  await settings(page, { 'Max tokens': '4', Temperature: '0', 'System prompt': 'Answer briefly.' });
  await ask(page, 'First chat question', 1);
  mark('first reply');
  await expect(list.getByRole('button', { name: 'First chat question', exact: true })).toHaveAttribute('aria-current', 'true');
  await expect(page.getByRole('heading', { name: 'First chat question', level: 2 })).toBeVisible();
  const meter = page.getByRole('meter', { name: 'Context' });
  const used1 = Number(await meter.getAttribute('value'));
  expect(used1).toBeGreaterThan(4); // the prompt's tokens plus the reply's
  await expect(page.getByTestId('context-usage')).toHaveText(`${used1} / ${ctx} tokens`);
  await ask(page, 'And a follow-up', 3);
  const used2 = Number(await meter.getAttribute('value'));
  expect(used2).toBeGreaterThan(used1);

  // Copy puts the exact text on the clipboard and says "Copied".
  await items(page).nth(0).getByRole('button', { name: 'Copy message' }).click();
  await expect(items(page).nth(0).getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('First chat question');

  await list.getByRole('button', { name: 'New chat' }).click();
  await expect(items(page)).toHaveCount(1); // the empty-state hint
  await expect(page.getByTestId('context-usage')).toHaveText(`0 / ${ctx} tokens`);
  await expect(page.getByLabel('System prompt', { exact: true })).toHaveValue('');
  await ask(page, 'Second chat question', 1);
  mark('second conversation');
  const titles = list.locator('.conv-open');
  await expect(titles).toHaveText(['Second chat question', 'First chat question']);

  // Switching shows the other conversation's messages, nothing of this one's.
  await list.getByRole('button', { name: 'First chat question', exact: true }).click();
  await expect(items(page)).toHaveCount(4);
  await expect(items(page).nth(2)).toContainText('And a follow-up');
  await expect(page.getByRole('list', { name: 'Conversation' })).not.toContainText('Second chat question');

  // 3. Rename (inline, keyboard only): Escape cancels, Enter saves.
  await list.getByRole('button', { name: 'Rename Second chat question' }).click();
  const titleBox = list.getByRole('textbox', { name: 'Conversation title' });
  await expect(titleBox).toBeFocused();
  await titleBox.fill('Nope');
  await titleBox.press('Escape');
  await expect(titles).toHaveText(['Second chat question', 'First chat question']);
  await expect(list.getByRole('button', { name: 'Second chat question', exact: true })).toBeFocused();
  await list.getByRole('button', { name: 'Rename Second chat question' }).press('Enter');
  await list.getByRole('textbox', { name: 'Conversation title' }).fill('Renamed chat');
  await list.getByRole('textbox', { name: 'Conversation title' }).press('Enter');
  await expect(list.getByRole('button', { name: 'Renamed chat', exact: true })).toBeFocused();

  // 4. Reload: both conversations are there with their messages; the open one is reopened.
  await page.reload();
  await expect(composer(page)).toBeVisible({ timeout: 300_000 });
  mark('reloaded');
  await expect(titles).toHaveText(['Renamed chat', 'First chat question']);
  await expect(list.getByRole('button', { name: 'First chat question', exact: true })).toHaveAttribute('aria-current', 'true');
  await expect(items(page)).toHaveCount(4);
  await expect(items(page).nth(0)).toContainText('You said:First chat question');
  await expect(items(page).nth(2)).toContainText('You said:And a follow-up');
  await expect(page.getByTestId('context-usage')).toHaveText(`${used2} / ${ctx} tokens`);
  // The sampling settings are remembered across the reload too (localStorage).
  const maxTokens = page.getByLabel('Max tokens', { exact: true });
  if (!(await maxTokens.isVisible())) await page.getByText('Settings', { exact: true }).click();
  await expect(maxTokens).toHaveValue('4');
  await expect(page.getByLabel('Temperature', { exact: true })).toHaveValue('0');
  await settings(page, {});
  await expect(page.getByLabel('System prompt', { exact: true })).toHaveValue('Answer briefly.');
  await list.getByRole('button', { name: 'Renamed chat', exact: true }).click();
  await expect(items(page)).toHaveCount(2);
  await expect(page.getByLabel('System prompt', { exact: true })).toHaveValue('');
  await expect(items(page).nth(0)).toContainText('You said:Second chat question');
  await expect(items(page).nth(1).locator('.msg-meta')).toContainText('4 tokens');

  // 5. Export: JSON keeps everything; the Markdown download is exactly the expected text.
  const json = await downloadText(page, 'JSON');
  expect(json.name).toBe('Renamed-chat.json');
  const doc = JSON.parse(json.text);
  expect(doc).toMatchObject({ format: 'phi3-local-chat.conversation', version: 1, title: 'Renamed chat', model: { name: 'tiny-q4_0.gguf' } });
  expect(doc.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
  expect(doc.messages[0].content).toBe('Second chat question');
  expect(doc.messages[1]).toMatchObject({ finish_reason: 'length', usage: { completion_tokens: 4 } });
  const reply = doc.messages[1].content as string;
  expect(reply.length).toBeGreaterThan(0);
  const md = await downloadText(page, 'Markdown');
  expect(md.name).toBe('Renamed-chat.md');
  expect(md.text).toBe(
    `# Renamed chat\n\n- Created: ${doc.createdAt}\n- Model: tiny-q4_0.gguf\n\n## User\n\nSecond chat question\n\n## Assistant\n\n${reply}\n\n_(cut at max tokens)_\n`,
  );
  mark('exported');

  // 6. Regenerate replaces the last reply (here: with more tokens allowed), nothing is added.
  await settings(page, { 'Max tokens': '6', Temperature: '0' });
  await items(page).nth(1).getByRole('button', { name: 'Regenerate' }).click();
  await expect(items(page).nth(1).locator('.msg-meta')).toContainText('6 tokens', { timeout: 300_000 });
  await expect(items(page)).toHaveCount(2);
  mark('regenerated');

  // 7. Edit and resend: the first message of a two-turn chat; its reply and the second turn go.
  await settings(page, { 'Max tokens': '4' });
  await list.getByRole('button', { name: 'First chat question', exact: true }).click();
  await expect(items(page)).toHaveCount(4);
  await items(page).nth(0).getByRole('button', { name: 'Edit' }).click();
  const editBox = page.getByRole('textbox', { name: 'Edit your message' });
  await expect(editBox).toBeFocused();
  await editBox.fill('Edited first question');
  await editBox.press('Enter');
  await expect(items(page).nth(1).locator('.msg-meta')).toContainText('4 tokens', { timeout: 300_000 });
  await expect(items(page)).toHaveCount(2);
  await expect(items(page).nth(0)).toContainText('You said:Edited first question');
  // An automatic title follows the edited first message.
  await expect(titles).toHaveText(['Edited first question', 'Renamed chat']);
  mark('edited');

  await shoot(page, 'chat');
  await axe(page, 'desktop');

  // 8. Delete, undo, delete again: gone after a reload too.
  await list.getByRole('button', { name: 'Delete Renamed chat' }).click();
  await expect(titles).toHaveText(['Edited first question']);
  await expect(list.getByRole('status')).toContainText('Deleted “Renamed chat”.');
  await expect(list.getByRole('button', { name: 'Undo' })).toBeFocused();
  await list.getByRole('button', { name: 'Undo' }).click();
  await expect(titles).toHaveText(['Edited first question', 'Renamed chat']);
  await list.getByRole('button', { name: 'Delete Renamed chat' }).click();
  await expect(titles).toHaveText(['Edited first question']);

  // 9. The phone drawer: toggled by a visible button, Escape closes it and returns focus.
  await page.setViewportSize(PHONE);
  await expect(list).toBeHidden();
  const toggle = page.getByRole('button', { name: 'Chats', exact: true });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.click();
  await expect(list).toBeVisible();
  await expect(list.getByRole('button', { name: 'New chat' })).toBeFocused();
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: `${SCREENS}/conv-drawer-phone-${scheme}.png` });
  }
  await axe(page, 'phone drawer (dark)');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.keyboard.press('Escape');
  await expect(list).toBeHidden();
  await expect(toggle).toBeFocused();
  await page.setViewportSize(DESKTOP);

  // 10. A reply cut by a reload comes back as stopped, with the text saved before the reload.
  await settings(page, { 'Max tokens': '300' });
  await composer(page).fill('Write a long story');
  await composer(page).press('Enter');
  const cut = items(page).nth(3);
  await expect(cut.locator('.msg-text .typing')).toHaveCount(0, { timeout: 300_000 }); // the first text has come
  expect(((await cut.locator('.msg-text').textContent()) ?? '').trim().length).toBeGreaterThan(0);
  await page.waitForTimeout(1500); // the streaming reply is saved every 500 ms
  await expect(cut.locator('.msg-meta')).toHaveCount(0); // still streaming
  await page.reload();
  await expect(composer(page)).toBeVisible({ timeout: 300_000 });
  mark('reloaded mid-reply');
  await expect(items(page)).toHaveCount(4);
  await expect(items(page).nth(3).locator('.msg-meta')).toHaveText('stopped');
  await expect(items(page).nth(3).locator('.msg-text')).not.toContainText('(stopped before any text)');
  expect(((await items(page).nth(3).locator('.msg-text').textContent()) ?? '').trim().length).toBeGreaterThan(0);
  await expect(items(page).nth(3).getByRole('button', { name: 'Regenerate' })).toBeEnabled();
  await expect(titles).toHaveText(['Edited first question']);
  const saved = JSON.parse((await downloadText(page, 'JSON')).text);
  expect(saved.messages[0]).toEqual({ role: 'system', content: 'Answer briefly.' });
  expect(saved.messages[4]).toMatchObject({ role: 'assistant', finish_reason: 'abort' });
  expect(saved.messages[4].content.length).toBeGreaterThan(0);

  // 11. Switching away while a reply streams stops it first; it never lands in the other chat.
  await settings(page, { 'Max tokens': '300', Temperature: '0' });
  await list.getByRole('button', { name: 'New chat' }).click();
  await composer(page).fill('Another long story');
  await composer(page).press('Enter');
  await expect(items(page).nth(1).locator('.msg-text .typing')).toHaveCount(0, { timeout: 300_000 });
  await list.getByRole('button', { name: 'Edited first question', exact: true }).click();
  await expect(items(page)).toHaveCount(4);
  await expect(page.getByRole('button', { name: 'Stop', exact: true })).toBeDisabled();
  const other = await page.getByRole('list', { name: 'Conversation' }).textContent();
  await page.waitForTimeout(1000);
  expect(await page.getByRole('list', { name: 'Conversation' }).textContent()).toBe(other);
  await list.getByRole('button', { name: 'Another long story', exact: true }).click();
  await expect(items(page)).toHaveCount(2);
  await expect(items(page).nth(1).locator('.msg-meta')).toContainText('stopped');

  await shoot(page, 'stopped');
  await expect(page.getByRole('alert')).toHaveCount(0);

  // 12. Import: the JSON exported in step 5 (its chat deleted since) comes back as a new chat,
  // opened, with its system prompt-less turns and reply meta; a Markdown file is refused, saying why.
  const importer = nav(page).getByLabel('Chat file to import');
  await importer.setInputFiles(await json.dl.path());
  // it keeps its own dates, so it sorts among the others by its last change, and is opened
  await expect(titles).toHaveText(['Another long story', 'Edited first question', 'Renamed chat']);
  await expect(list.getByRole('button', { name: 'Renamed chat', exact: true })).toHaveAttribute('aria-current', 'true');
  await expect(items(page)).toHaveCount(2);
  await expect(items(page).nth(0)).toContainText('You said:Second chat question');
  expect(((await items(page).nth(1).locator('.msg-text').textContent()) ?? '').trim()).toBe(reply.trim());
  await expect(items(page).nth(1).locator('.msg-meta')).toContainText('4 tokens · cut at max tokens');
  expect(JSON.parse((await downloadText(page, 'JSON')).text)).toMatchObject({ title: 'Renamed chat', messages: doc.messages });
  await importer.setInputFiles(await md.dl.path());
  await expect(page.getByRole('alert')).toContainText('Could not import the chat: the file is not JSON');
  await expect(titles).toHaveCount(3);
  expect(errors).toEqual([]);
});
