/**
 * Phi-3-small in the app, through roles and labels: a checkpoint as Microsoft publishes it
 * (generated, tiny, the real cl100k vocabulary), converted by `npm run convert`, is imported as a
 * local .gguf file, loads, and answers "Hello" with its own chat template, streaming a reply that
 * ends at `<|end|>` (not at the token limit), which never shows in the text.
 * The checkpoint's final bias is set so that the reply is known (e2e/phi3small-stand-in.ts: chosen
 * with the independent reference under the app's greedy sampling).
 * Would fail if the import refused the phi3small architecture, if the template or the cl100k
 * tokenizer made other prompt ids (the context meter counts them), if `<|end|>` did not stop the
 * reply, or if the reply's tokens differed from the reference's.
 */
import { expect, test, type Locator, type Page } from '@playwright/test';
import { rmSync } from 'node:fs';
import { createTokenizer } from '../src/model/create-tokenizer.ts';
import { readGGUFFile } from '../src/model/source-node.ts';
import { vocabFromMetadata } from '../src/model/vocab.ts';
import { plantedPhi3Small, type PlantedModel } from './phi3small-stand-in.ts';
import { shoot } from './screens.ts';

let planted: PlantedModel;
let replyText: string;

test.beforeAll(async () => {
  test.setTimeout(300_000);
  // seed 7 is the first that gives a short reply with clear margins; the search checks it again
  planted = await plantedPhi3Small(7);
  const file = await readGGUFFile(planted.gguf);
  expect(file.metadata.get('general.architecture')).toBe('phi3small');
  replyText = createTokenizer(vocabFromMetadata(file.metadata)).decode(planted.reply);
  console.log(`[ui-phi3small] seed ${planted.seed}: reply ${planted.reply.join(',')} (${JSON.stringify(replyText)}), then <|end|>; smallest margin ${planted.margin.toFixed(2)}`);
});
test.afterAll(() => {
  if (planted) rmSync(planted.dir, { recursive: true, force: true });
});

async function settings(page: Page, values: Record<string, string>) {
  const maxTokens = page.getByLabel('Max tokens');
  if (!(await maxTokens.isVisible())) await page.getByText('Settings', { exact: true }).click();
  for (const [label, v] of Object.entries(values)) await page.getByLabel(label, { exact: true }).fill(v);
}

/** A reply's own text: the item's text without its screen-reader label and its speed line. */
async function ownText(item: Locator): Promise<string> {
  const all = (await item.textContent()) ?? '';
  return all.replace(/^.*? replied:/s, '').replace(/(prefill|decode) [\d.]+ tok\/s.*$/s, '');
}

test('a converted Phi-3-small is imported, chats with its template and stops at <|end|>', async ({ page }) => {
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Choose a model' })).toBeVisible();
  await page.getByLabel('Import a .gguf file').setInputFiles(planted.gguf);
  const composer = page.getByRole('textbox', { name: 'Message', exact: true });
  await expect(composer).toBeVisible({ timeout: 300_000 });
  const models = page.getByRole('complementary', { name: 'Models and GPU' });
  await expect(models.getByText('phi3-small-tiny-f16.gguf')).toBeVisible();

  await settings(page, { Temperature: '0', 'Max tokens': '24' });
  const items = page.getByRole('list', { name: 'Conversation' }).locator(':scope > li');
  await composer.fill('Hello');
  await composer.press('Enter');
  const reply = items.nth(1);
  await expect(reply).toContainText(/decode [\d.]+ tok\/s/, { timeout: 300_000 });
  const meta = (await reply.locator('.msg-meta').textContent()) ?? '';
  expect(meta).not.toContain('cut at max tokens');
  const n = Number(/(\d+) tokens?/.exec(meta)?.[1]);
  // the reply's tokens, then <|end|>, which ends it and is not shown
  expect(n).toBeGreaterThanOrEqual(planted.reply.length);
  expect(n).toBeLessThanOrEqual(planted.reply.length + 1);
  const text = await ownText(reply);
  expect(text).not.toContain('<|end|>');
  expect(text.replace(/\s+/g, ' ').trim()).toBe(replyText.replace(/\s+/g, ' ').trim());
  // the prompt as Phi-3-small's template and cl100k tokenizer make it, plus the reply
  await expect(page.getByTestId('context-usage')).toHaveText(new RegExp(`^${planted.prompt.length + n} / `));
  await shoot(page, 'phi3small-chat');
  expect(errors).toEqual([]);
});
