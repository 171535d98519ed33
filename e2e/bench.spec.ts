/**
 * The in-app benchmark screen: reached from the header's "Benchmark" link, it runs the bench on
 * an installed model in the worker (SwiftShader) and shows the table, per-kernel GPU times, and
 * a "Copy report" button whose clipboard text holds the Markdown table and the JSON (adapter,
 * features, limits, browser), and the GPU details with their default runs on: the roofline sweep
 * (the best configuration and the 64-workgroup reference beside it), decode at context 128 (1K
 * and 4K skipped with the reason: the tiny model holds 512 positions), prefill at 128 tokens,
 * the compile time and the note on Chrome's timestamp rounding. Breaks if the route, the worker's
 * bench() or the report lose any of that. Small counts: SwiftShader is slow.
 */
import { expect, test } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import type { ChatEngine } from '../src/client/openai.ts';
import type { BenchReport } from '../src/worker/protocol.ts';

let server: ModelServer;

test.beforeAll(async () => {
  server = await startModelServer({ 'tiny.gguf': await ensureModel({ preset: 'tiny', mix: 'q4_k_m', seed: 1 }) });
});
test.afterAll(async () => server?.close());

test('benchmark screen: run on an installed model, see the table, copy the report', async ({ page, context }) => {
  test.setTimeout(600_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.goto('/');
  await page.waitForFunction(() => 'phi3' in window);
  await page.evaluate(async (url) => (window as unknown as { phi3: ChatEngine }).phi3.install({ kind: 'url', url }), server.url('tiny.gguf'));

  await page.getByRole('link', { name: 'Benchmark' }).click();
  await expect(page).toHaveURL(/\?bench/);
  await expect(page.getByRole('heading', { name: 'Benchmark' })).toBeVisible();
  await page.getByLabel('Prompt tokens').fill('16');
  await page.getByLabel('Decoded tokens').fill('4');
  await page.getByLabel('Profiled steps').fill('1');
  await page.getByRole('button', { name: 'Run benchmark' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Running' })).toBeVisible();

  const result = page.getByTestId('bench-result');
  await expect(result).toBeVisible({ timeout: 540_000 });
  const table = result.getByRole('table', { name: 'Results' });
  await expect(table.getByRole('row', { name: /Prompt \/ decoded tokens\s*16 \/ 4/ })).toBeVisible();
  await expect(table.getByRole('row', { name: /Adapter.*swiftshader/i })).toBeVisible();
  await expect(table.getByRole('row', { name: /^Decode\s*[\d.]+ tok\/s/ })).toBeVisible();
  await expect(table.getByRole('row', { name: /^KV cache\s*16-bit \(f16\), [\d.]+ [kKMG]?B/ })).toBeVisible();
  await expect(table.getByRole('row', { name: /^GPU memory \(every buffer the engine holds\)\s*[\d.]+ [kKMG]?B/ })).toBeVisible();
  // SwiftShader in these runs has timestamp-query only behind a flag: either a per-kernel table or the reason.
  await expect(result.getByRole('table', { name: /GPU time per kernel/ }).or(result.getByText(/GPU time per kernel: not measured \(.+\)/))).toBeVisible();

  // a CPU emulator keeps its hand-tuned table unless tuning is asked for
  await expect(result.getByRole('table', { name: /Kernel plan: Hand-tuned table/ })).toBeVisible();

  const details = result.getByTestId('bench-gpu-details');
  await expect(details.getByText(/^Reference: \d+ workgroups of \d+ threads/)).toBeVisible();
  await expect(details.getByText(/Roofline fraction \(decode \/ streaming read\): [\d.]+ \(against the 64-workgroup read: [\d.]+\)/)).toBeVisible();
  const contexts = details.getByRole('table', { name: 'Decode at longer contexts' });
  await expect(contexts.getByRole('row', { name: /^128\s+8\s+[\d.]+/ })).toBeVisible();
  await expect(contexts.getByRole('row', { name: /^1024.*skipped: .*exceed the loaded context \(512\)/ })).toBeVisible();
  await expect(details.getByRole('table', { name: 'Prefill by prompt length' }).getByRole('row', { name: /^128\s+\d+\s+[\d.]+/ })).toBeVisible();
  await expect(details.getByText(/ms from the start of the background compiles/)).toBeVisible();
  await expect(details.getByText(/enable-webgpu-developer-features/)).toBeVisible();

  await result.getByRole('button', { name: 'Copy report' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'copied' })).toBeVisible();
  const text = await page.evaluate(() => navigator.clipboard.readText());
  expect(text).toContain('| Prompt / decoded tokens | 16 / 4 |');
  expect(text).toContain('### Kernel plan');
  expect(text).toMatch(/\| qkv \| workgroupSize=\d+ rowsPerWorkgroup=\d+/);
  const json = JSON.parse(text.slice(text.indexOf('```json') + 7, text.lastIndexOf('```'))) as BenchReport;
  expect(json.adapter.toLowerCase()).toContain('swiftshader');
  expect(json.capabilities.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
  expect(json.userAgent).toContain('Chrome');
  expect(json.decodeTokens).toBe(4);
  expect(json.decodeTokPerS).toBeGreaterThan(0);
  expect(json.dispatchesPerToken).toBeGreaterThan(10);
  expect(text).toContain('chrome://flags/#enable-webgpu-developer-features');
  expect(text).toContain('#### Roofline reference (streaming read)');
  expect(json.streamSweep.workgroupsTried[0]).toBe(64);
  expect(json.streamCandidates).toContainEqual(json.streamBest);
  expect(json.streamGBps).toBeGreaterThanOrEqual(json.streamGBpsLegacy64);
  for (const x of [json.streamGBps, json.streamGBpsLegacy64, json.rooflineFraction, json.rooflineFractionLegacy64, json.compileMs ?? 0]) expect(x).toBeGreaterThan(0);
  expect(json.contextDecode?.map((c) => c.context)).toEqual([128, 1024, 4096]);
  expect(json.prefillRuns?.map((p) => p.tokens)).toEqual([128, 512, 2048]);
  const sweep = json.streamSweep;
  console.log(
    `[bench] sweep ${sweep.trials.length} configurations in ${(sweep.sweepMs / 1000).toFixed(1)} s (${sweep.notTried} not tried); reference ${json.streamGBps.toFixed(3)} GB/s, 64 workgroups ${json.streamGBpsLegacy64.toFixed(3)} GB/s; roofline ${json.rooflineFraction.toFixed(3)} (64 workgroups: ${json.rooflineFractionLegacy64.toFixed(3)}); compile ${json.compileMs?.toFixed(0)} ms`,
  );
});
