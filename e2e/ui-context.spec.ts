/**
 * Long contexts in the picker and the model list: a 128K model is offered 8K to 128K, each with
 * the KV cache precision the setting gives it there and the GPU memory that takes; Automatic keeps
 * the cache in 8 bits above 4K, the 16-bit override doubles the figure, both choices are
 * remembered, and a length the reported RAM cannot hold is marked. Then a 128K stand-in (the tiny
 * preset with LongRoPE and a 16K context) is loaded at 8K with the 16-bit override, and the model
 * list says what it was loaded with; choosing Automatic again offers a reload in 8 bits.
 * Would fail if the options or the memory shown did not follow the KV type chosen, if the choice
 * were forgotten on reload, or if the load did not use the chosen length and precision.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { MODEL_REGISTRY } from '../src/common/catalog.ts';
import { formatBytes } from '../src/common/format.ts';
import { kvBytesPerToken } from '../src/common/kv.ts';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { shoot } from './screens.ts';

const MINI_128K = MODEL_REGISTRY.find((e) => e.displayName === 'Phi-3 mini 128k instruct')!;
let server: ModelServer;

test.beforeAll(async () => {
  test.setTimeout(300_000);
  const path = await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 16384 });
  server = await startModelServer({ [MINI_128K.displayName]: path });
});
test.afterAll(async () => server?.close());

/** Answers the 128K mini's Hugging Face URL from the stand-in server. */
async function serveStandIn(context: BrowserContext) {
  await context.route('https://huggingface.co/**', async (route) => {
    if (route.request().url() !== MINI_128K.url) return route.fulfill({ status: 404, body: 'not served here' });
    await route.fulfill({ response: await route.fetch({ url: server.url(MINI_128K.displayName) }) });
  });
}

/** Axe's serious and critical WCAG 2.1 A/AA violations, by rule id (empty when clean). */
async function serious(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
}

/** What the picker shows for the 128K mini at `n` positions: the file and the cache in `kvType`. */
const memory = (n: number, kvType: 'f16' | 'q8_0') => formatBytes(MINI_128K.approxBytes! + kvBytesPerToken(MINI_128K.kv!, kvType) * n);

test('a 128K model: 8K and up in 8 bits by default, 16 bits by choice, remembered; loaded at 8K in 16 bits', async ({ page, context }) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await serveStandIn(context);
  // The device reports 4 GB of RAM: a 16-bit 8K cache (5.61 GB with the weights) may not fit, an 8-bit one (4.10 GB) does.
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'deviceMemory', { get: () => 4 }));
  await page.goto('/');
  await page.getByRole('radio', { name: MINI_128K.displayName, exact: true }).check();
  const card = page.getByRole('article', { name: new RegExp(`^${MINI_128K.displayName}`) });
  const ctx = card.getByRole('combobox', { name: 'Context length' });
  const precision = card.getByRole('combobox', { name: 'KV cache precision' });

  // 1. Automatic: 16 bits up to 4K, 8 bits from 8K to 128K, each with its memory; 8K fits, 16K and up may not.
  const options = await ctx.locator('option').allTextContents();
  expect(options).toEqual([
    `1024 tokens · ${memory(1024, 'f16')} GPU, 16-bit KV`,
    `2048 tokens · ${memory(2048, 'f16')} GPU, 16-bit KV`,
    `4096 tokens · ${memory(4096, 'f16')} GPU, 16-bit KV`,
    `8192 tokens · ${memory(8192, 'q8_0')} GPU, 8-bit KV`,
    `16384 tokens · ${memory(16384, 'q8_0')} GPU, 8-bit KV · may not fit`,
    `32768 tokens · ${memory(32768, 'q8_0')} GPU, 8-bit KV · may not fit`,
    `65536 tokens · ${memory(65536, 'q8_0')} GPU, 8-bit KV · may not fit`,
    `131072 tokens · ${memory(131072, 'q8_0')} GPU, 8-bit KV · may not fit`,
  ]);
  await ctx.selectOption('8192');
  await expect(precision).toHaveValue('auto');
  await expect(precision.locator('option:checked')).toHaveText('Automatic (8-bit)');
  await expect(precision).toHaveAccessibleDescription(/8-bit needs about half the GPU memory per token of context/);
  await expect(card.getByText(`about ${memory(8192, 'q8_0')} (weights and a 8192-token context)`)).toBeVisible();
  await expect(card.locator('dt:has-text("KV cache") + dd')).toHaveText('8-bit');
  await expect(card.getByText('May not fit this device:')).toHaveCount(0);
  expect(await serious(page)).toEqual([]);
  await card.scrollIntoViewIfNeeded();
  await shoot(page, 'context-1-auto');

  // 2. The 16-bit override: the same length takes the 16-bit figure, and is marked as maybe too big.
  await precision.selectOption('f16');
  await expect(card.getByText(`about ${memory(8192, 'f16')} (weights and a 8192-token context)`)).toBeVisible();
  await expect(card.locator('dt:has-text("KV cache") + dd')).toHaveText('16-bit');
  await expect(ctx.locator('option:checked')).toHaveText(`8192 tokens · ${memory(8192, 'f16')} GPU, 16-bit KV · may not fit`);
  await expect(card.getByText('May not fit this device:')).toBeVisible();

  // 3. Both choices survive a reload.
  await page.reload();
  await page.getByRole('radio', { name: MINI_128K.displayName, exact: true }).check();
  await expect(ctx).toHaveValue('8192');
  await expect(precision).toHaveValue('f16');

  // 4. Load the stand-in (trained for 16K) at 8K in 16 bits: the model list says so, and the chat counts to 8,192.
  await card.getByRole('button', { name: 'Download anyway' }).click();
  await expect(page.getByText('Context length: 8192 tokens, kept in 16-bit precision.')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByRole('textbox', { name: 'Message', exact: true })).toBeVisible({ timeout: 240_000 });
  const models = page.getByRole('complementary', { name: 'Models and GPU' });
  // the stand-in's cache: 2 layers x (K, V) x 4 heads x 64 values x 2 bytes x 8192 positions
  await expect(models.getByText(`loaded with 8192, 16-bit KV (${formatBytes(2 * 2 * 4 * 64 * 2 * 8192)})`)).toBeVisible();
  await expect(page.getByTestId('context-usage')).toHaveText(/ \/ 8,192 tokens$/);

  // 5. Automatic again: the list's 8K option is 8-bit now, and a reload is offered to apply it.
  const listPrecision = models.getByRole('combobox', { name: 'KV cache precision' });
  await expect(listPrecision.locator('option:checked')).toHaveText('16-bit');
  await listPrecision.selectOption('auto');
  await expect(listPrecision.locator('option:checked')).toHaveText('Automatic (8-bit)');
  await expect(models.getByRole('combobox', { name: `Context length for ${MINI_128K.displayName}` }).locator('option:checked')).toHaveText(/^8192 tokens · .* GPU, 8-bit KV$/);
  await expect(models.getByRole('button', { name: `Reload ${MINI_128K.displayName}` })).toBeVisible();
  expect(await serious(page)).toEqual([]);
  await shoot(page, 'context-2-loaded');
  expect(errors).toEqual([]);
});
