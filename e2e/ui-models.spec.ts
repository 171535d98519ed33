/**
 * The model manager, through roles and labels only: context length chosen in the picker (with the
 * GPU memory of each choice) and remembered; a host outside the security policy refused up front;
 * a download paused, shown as incomplete, resumed after a reload from its stored chunks (fewer
 * bytes fetched than the file has), loaded with the chosen context, reloaded with another; a
 * download cancelled and deleted; storage used/free and persistence shown.
 * Would fail if Pause deleted the chunks, Resume restarted from zero, Cancel left them, or the
 * context choice were not the one the worker loaded with.
 */
import { expect, test, type Page } from '@playwright/test';
import { statSync } from 'node:fs';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { DESKTOP, shoot } from './screens.ts';

let server: ModelServer;
let size = 0;

test.beforeAll(async () => {
  // 52 MB = 4 chunks of 16 MiB: a pause after half of it leaves whole chunks stored. Context 2048.
  const path = await ensureModel({ preset: 'small', mix: 'q4_k_m', seed: 1 });
  size = statSync(path).size;
  server = await startModelServer({ 'small.gguf': path, 'other.gguf': path }, { bytesPerSecond: 4 * 2 ** 20 });
});
test.afterAll(async () => server?.close());

/** Fraction of the download done, from the progress bar. */
async function progressFraction(page: Page): Promise<number> {
  const bar = page.getByRole('progressbar').first();
  const [v, max] = await Promise.all([bar.getAttribute('value'), bar.getAttribute('max')]);
  return v && max ? Number(v) / Number(max) : 0;
}

test('context length, pause / resume / cancel downloads, storage', async ({ page, context }) => {
  test.setTimeout(900_000);
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  let confirmDelete = false;
  page.on('dialog', (d) => void (confirmDelete ? d.accept() : d.dismiss()));
  const url = server.url('small.gguf');
  await page.setViewportSize(DESKTOP);

  // 1. The picker offers 1024 / 2048 / 4096 tokens with the GPU memory each takes; the choice sticks.
  await page.goto(`/?model=${encodeURIComponent(url)}`);
  const ctx = page.getByRole('combobox', { name: 'Context length' });
  await expect(ctx).toHaveValue('4096');
  const options = await ctx.locator('option').allTextContents();
  expect(options).toEqual([
    expect.stringMatching(/^1024 tokens · 2\.8\d GB GPU, 16-bit KV$/),
    expect.stringMatching(/^2048 tokens · 3\.2\d GB GPU, 16-bit KV$/),
    expect.stringMatching(/^4096 tokens · 4\.0\d GB GPU, 16-bit KV$/),
  ]);
  await expect(page.getByText('(weights and a 4096-token context)')).toBeVisible();
  await ctx.selectOption('1024');
  await expect(page.getByText('(weights and a 1024-token context)')).toBeVisible();
  await page.reload();
  await expect(page.getByRole('combobox', { name: 'Context length' })).toHaveValue('1024');
  await page.getByRole('combobox', { name: 'Context length' }).selectOption('2048');
  await expect(page.getByText('Storage in this browser')).toBeVisible();
  await expect(page.getByText(/used · .* available/)).toBeVisible();
  await expect(page.getByTestId('persist-state')).toContainText(/protected/i);
  await shoot(page, 'models-1-picker');

  // 2. A host the policy blocks is refused with a reason, before any request.
  const urlBox = page.getByRole('textbox', { name: 'Model URL' });
  await urlBox.fill('https://example.org/model.gguf');
  await page.getByRole('button', { name: 'Download from URL' }).click();
  await expect(page.getByRole('alert')).toContainText('example.org is blocked by its security policy');
  expect(requests.filter((u) => u.includes('example.org'))).toEqual([]);
  await urlBox.fill(url);

  // 3. Download, then Pause past the first chunks: stays stored, shown as paused and incomplete.
  await page.getByRole('button', { name: 'Download from URL' }).click();
  await expect(page.getByRole('heading', { name: 'Downloading small.gguf' })).toBeVisible();
  await expect.poll(() => progressFraction(page), { timeout: 120_000, intervals: [100] }).toBeGreaterThan(0.45);
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByText('Paused', { exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Resume', exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Cancel and delete' })).toBeVisible();
  const models = page.getByRole('complementary', { name: 'Models and GPU' });
  await expect(models.getByText('incomplete')).toBeVisible();
  // The paused card shows what is kept, the whole chunks stored, as the model list does (not the
  // bytes received: a chunk cut by the pause is dropped and fetched again).
  const kept = /(\S+ \S+) of (\S+ \S+) downloaded\./.exec((await models.getByText(/ downloaded\./).textContent()) ?? '');
  expect(kept).not.toBeNull();
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await expect(page.locator('.progress-numbers')).toHaveText(new RegExp(`^${esc(kept![1])} of ${esc(kept![2])} \\(`));
  await shoot(page, 'models-2-paused');

  // 4. After a reload the incomplete model offers Resume and Delete; Resume fetches only the rest.
  await page.reload();
  await expect(models.getByRole('button', { name: 'Delete small.gguf' })).toBeVisible();
  const resume = models.getByRole('button', { name: 'Resume small.gguf' });
  await expect(resume).toBeVisible();
  const servedBefore = server.bytesServed;
  await resume.click();
  await expect(page.getByText('Context length: 2048 tokens, kept in 16-bit precision.')).toBeVisible({ timeout: 120_000 });
  const resumedBytes = server.bytesServed - servedBefore;
  expect(resumedBytes).toBeGreaterThan(0);
  // Paused past 45% (23.6 MB), so at least chunk 0 (16 MiB) was stored and is not fetched again.
  expect(resumedBytes).toBeLessThanOrEqual(size - 16 * 2 ** 20);
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible({ timeout: 400_000 });
  await expect(models.getByText(/loaded with 2048/)).toBeVisible();

  // 5. Reload the model with a shorter context.
  const modelCtx = models.getByRole('combobox', { name: 'Context length for small.gguf' });
  await expect(modelCtx).toHaveValue('2048');
  expect(await modelCtx.locator('option').allTextContents()).toEqual([expect.stringMatching(/^1024 tokens · /), expect.stringMatching(/^2048 tokens · /)]);
  await modelCtx.selectOption('1024');
  await models.getByRole('button', { name: 'Reload small.gguf' }).click();
  await expect(models.getByText(/loaded with 1024/)).toBeVisible({ timeout: 400_000 });
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
  expect(await page.evaluate(() => localStorage.getItem('phi3.contextLength'))).toBe('1024');
  await shoot(page, 'models-3-loaded');

  // 6. Cancel and delete: the partial download is gone from the list.
  await models.getByRole('button', { name: 'Add a model' }).click();
  await page.getByRole('textbox', { name: 'Model URL' }).fill(server.url('other.gguf'));
  await page.getByRole('button', { name: 'Download from URL' }).click();
  await expect.poll(() => progressFraction(page), { timeout: 120_000, intervals: [100] }).toBeGreaterThan(0.4);
  await page.getByRole('button', { name: 'Cancel and delete' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Downloading other.gguf cancelled; the partly downloaded file was deleted.' })).toBeVisible();
  await expect(models.getByText('other.gguf')).toHaveCount(0);
  expect(await page.evaluate(async () => (await (window as unknown as { phi3: { listModels(): Promise<{ displayName: string }[]> } }).phi3.listModels()).map((m) => m.displayName))).toEqual(['small.gguf']);

  confirmDelete = true;
  expect(errors).toEqual([]);
});
