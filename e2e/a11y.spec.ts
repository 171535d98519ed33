/**
 * Accessibility and looks of the main screens: an axe scan (WCAG 2.1 A/AA rules) with no serious
 * or critical violation, and screenshots at desktop and phone width in light and dark, written to
 * $PW_OUT/screens/a11y-<screen>-<width>-<scheme>.png for a person to look at.
 * Screens: the first-run picker, the download in progress, the chat with a reply (sidebar,
 * settings open), the phone drawer, and the benchmark screen.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';

let server: ModelServer;
test.beforeAll(async () => {
  const path = await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 });
  // Throttled so the download screen stays up long enough to be scanned.
  server = await startModelServer({ 'tiny-q4_0.gguf': path }, { bytesPerSecond: 2 * 2 ** 20 });
});
test.afterAll(async () => server?.close());

const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
const SCREENS = `${process.env.PW_OUT ?? 'test-results'}/screens`;

/** Axe violations of impact serious or critical, as readable lines (empty when clean). */
async function serious(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Scans and photographs the current screen at both widths in both colour schemes. */
async function check(page: Page, name: string, widths: (keyof typeof SIZES)[] = ['desktop', 'phone']) {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const w of widths) {
      await page.setViewportSize(SIZES[w]);
      await page.screenshot({ path: `${SCREENS}/a11y-${name}-${w}-${scheme}.png`, fullPage: w === 'phone' });
      expect(await serious(page), `${name} ${w} ${scheme}`).toEqual([]);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(SIZES.desktop);
}

test('main screens pass an axe scan at desktop and phone width, light and dark', async ({ page }) => {
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const url = server.url('tiny-q4_0.gguf');

  await page.setViewportSize(SIZES.desktop);
  await page.goto(`/?model=${encodeURIComponent(url)}`);
  await expect(page.getByRole('heading', { name: 'Choose a model' })).toBeVisible();
  await expect(page.getByTestId('selftest-summary')).toBeVisible({ timeout: 120_000 });
  await check(page, 'picker');

  await page.getByRole('button', { name: 'Download from URL' }).click();
  await expect(page.getByRole('progressbar', { name: /Downloading/ })).toBeVisible();
  await check(page, 'download', ['desktop']);

  const composer = page.getByRole('textbox', { name: 'Message', exact: true });
  await expect(composer).toBeVisible({ timeout: 300_000 });
  const maxTokens = page.getByLabel('Max tokens');
  if (!(await maxTokens.isVisible())) await page.getByText('Settings', { exact: true }).click();
  await maxTokens.fill('8');
  await composer.fill('Write `x = 1` in **bold** and a list:\n- one\n- two');
  await composer.press('Enter');
  const items = page.getByRole('list', { name: 'Conversation' }).locator(':scope > li');
  await expect(items.nth(1)).toContainText(/decode [\d.]+ tok\/s/, { timeout: 300_000 });
  await check(page, 'chat');

  // The phone drawer with the conversation list.
  await page.setViewportSize(SIZES.phone);
  const drawer = page.getByRole('button', { name: /Chats/ });
  if (await drawer.isVisible()) {
    await drawer.click();
    await expect(page.getByRole('navigation', { name: 'Conversations' })).toBeVisible();
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: `${SCREENS}/a11y-drawer-phone-${scheme}.png` });
      expect(await serious(page), `drawer ${scheme}`).toEqual([]);
    }
    await page.keyboard.press('Escape');
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(SIZES.desktop);

  await page.goto('/?bench');
  await expect(page.getByRole('heading', { name: /Benchmark/ }).first()).toBeVisible({ timeout: 60_000 });
  await check(page, 'bench');
  expect(errors).toEqual([]);
});
