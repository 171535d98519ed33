/**
 * The Phi family in the picker, through roles and labels: each registry entry is chosen in the
 * UI, downloaded from its Hugging Face address (answered here by a generated stand-in with the
 * entry's traits), loaded, and answers one streamed chat turn; switching to the next model frees
 * every GPU buffer of the previous one. A device whose storage cannot hold a model gets it refused
 * with the reason before any byte is fetched; one whose reported RAM is below a model's GPU need
 * gets a warning and "Download anyway".
 * Would fail if an entry's URL, size, context or licence were not shown, if a refused model could
 * start a download, or if a switch left the previous model's buffers alive.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { statSync } from 'node:fs';
import { MODEL_REGISTRY } from '../src/common/catalog.ts';
import { formatBytes } from '../src/common/format.ts';
import { encodeChat } from '../src/model/chat-template.ts';
import { readGGUFFile } from '../src/model/source-node.ts';
import { createTokenizer } from '../src/model/create-tokenizer.ts';
import { vocabFromMetadata } from '../src/model/vocab.ts';
import type { ModelOptions } from '../scripts/test-model-spec.ts';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { shoot } from './screens.ts';

/**
 * The stand-in served for each entry: the tiny preset with the entry's traits, by the generator's
 * options. Phi-3-mini: multi-head attention; the 4K models: a 4096-token context; the 128K models: long RoPE factors and a context past
 * 4K's choices; Phi-3-medium: 4 query heads per KV head (40 / 10); Phi-4-mini: grouped-query
 * attention (its o200k BPE vocabulary is `vocab: 'o200k'` once the generator has it).
 */
const STAND_INS: Record<string, ModelOptions> = {
  'Phi-3 mini 4k instruct': { preset: 'tiny', mix: 'q4_k_m', seed: 1, contextLength: 4096 },
  'Phi-3 mini 128k instruct': { preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 2048 },
  'Phi-3.5 mini instruct': { preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 2048 },
  // Phi-4-mini's traits: its o200k BPE vocabulary and chat template, tied output, partial rotary, GQA 4:1.
  'Phi-4 mini instruct': { preset: 'tiny', mix: 'q4_k_m', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true, vocab: 'o200k' },
  'Phi-3 medium 4k instruct': { preset: 'tiny', mix: 'q4_k_m', seed: 2, nKvHeads: 1, contextLength: 4096 },
  'Phi-3 medium 128k instruct': { preset: 'tiny', mix: 'q4_0', seed: 3, nKvHeads: 1, longRope: true, contextLength: 2048 },
};

let server: ModelServer;
/** Per entry: the stand-in's own context length, and the prompt ids of one "Hello" by its own chat template. */
const expected: Record<string, { contextLength: number; promptTokens: number; bytes: number }> = {};

test.beforeAll(async () => {
  test.setTimeout(300_000);
  const files: Record<string, string> = {};
  for (const e of MODEL_REGISTRY) {
    const path = (files[e.displayName] = await ensureModel(STAND_INS[e.displayName]));
    const file = await readGGUFFile(path);
    const template = file.metadata.get('tokenizer.chat_template');
    const ids = encodeChat(createTokenizer(vocabFromMetadata(file.metadata)), [{ role: 'user', content: 'Hello' }], {
      template: typeof template === 'string' ? template : undefined,
      addGenerationPrompt: true,
    });
    expected[e.displayName] = { contextLength: Number(file.metadata.get('phi3.context_length')), promptTokens: ids.length, bytes: statSync(path).size };
  }
  server = await startModelServer(files);
});
test.afterAll(async () => server?.close());

/** Answers every request for a registry URL from the stand-in server (Range and all); returns the URLs asked for. */
async function serveRegistry(context: BrowserContext): Promise<string[]> {
  const asked: string[] = [];
  await context.route('https://huggingface.co/**', async (route) => {
    const url = route.request().url();
    asked.push(url);
    const entry = MODEL_REGISTRY.find((e) => e.url === url);
    if (!entry) return route.fulfill({ status: 404, body: 'not a registry file' });
    await route.fulfill({ response: await route.fetch({ url: server.url(entry.displayName) }) });
  });
  return asked;
}

async function settings(page: Page, values: Record<string, string>) {
  const maxTokens = page.getByLabel('Max tokens');
  if (!(await maxTokens.isVisible())) await page.getByText('Settings', { exact: true }).click();
  for (const [label, v] of Object.entries(values)) await page.getByLabel(label, { exact: true }).fill(v);
}

type Tracked = { __gpu?: { live: Map<GPUBuffer, { bytes: number; era: number }>; era: number; overlap: Record<number, number> } };

/**
 * Counts the GPU buffers the engine worker makes and destroys, each tagged with the era it was
 * made in (one era per model; era 0 is before the first); `nextEra()` starts the next. `overlap[k]`
 * is the most bytes of earlier models' buffers alive while era k made a buffer: 0 when a load
 * frees the previous model before it allocates.
 */
async function trackBuffers(page: Page) {
  await expect.poll(() => page.workers().length).toBeGreaterThan(0);
  const worker = page.workers()[0];
  await worker.evaluate(() => {
    const g = self as unknown as Tracked;
    const state: NonNullable<Tracked['__gpu']> = { live: new Map(), era: 0, overlap: {} };
    g.__gpu = state;
    const create = GPUDevice.prototype.createBuffer;
    GPUDevice.prototype.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
      let earlier = 0;
      for (const b of state.live.values()) if (b.era > 0 && b.era < state.era) earlier += b.bytes;
      state.overlap[state.era] = Math.max(state.overlap[state.era] ?? 0, earlier);
      const b = create.call(this, d);
      state.live.set(b, { bytes: d.size, era: state.era });
      return b;
    };
    const destroy = GPUBuffer.prototype.destroy;
    GPUBuffer.prototype.destroy = function (this: GPUBuffer) {
      state.live.delete(this);
      return destroy.call(this);
    };
  });
  return {
    nextEra: () => worker.evaluate(() => ++(self as unknown as Tracked).__gpu!.era),
    /** Live buffers' bytes per era, and the overlap of each era. */
    read: () =>
      worker.evaluate(() => {
        const { live: all, overlap } = (self as unknown as Tracked).__gpu!;
        const live: Record<number, number> = {};
        for (const { bytes, era } of all.values()) live[era] = (live[era] ?? 0) + bytes;
        return { live, overlap };
      }),
  };
}

test('each Phi model is chosen, downloaded, loaded and answers; a switch frees the previous model', async ({ page, context }) => {
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const asked = await serveRegistry(context);
  const t0 = Date.now();
  const mark = (what: string) => console.log(`[ui-family] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Choose a model' })).toBeVisible();
  const gpu = await trackBuffers(page);
  const models = page.getByRole('complementary', { name: 'Models and GPU' });
  const composer = page.getByRole('textbox', { name: 'Message', exact: true });

  for (const [i, e] of MODEL_REGISTRY.entries()) {
    const era = await gpu.nextEra();
    if (i > 0) await models.getByRole('button', { name: 'Add a model' }).click();
    const radio = page.getByRole('radio', { name: e.displayName, exact: true });
    await radio.check();
    const card = page.getByRole('article', { name: new RegExp(`^${e.displayName.replace('.', '\\.')}`) });
    await expect(card.getByText(`up to ${e.contextLength} tokens`)).toBeVisible();
    await expect(card.getByRole('link', { name: 'MIT' })).toHaveAttribute('href', e.homepage!);
    await card.getByRole('button', { name: 'Download', exact: true }).click();
    await expect(composer).toBeVisible({ timeout: 300_000 });
    mark(`${e.displayName} loaded`);
    await expect(models.getByText('in use')).toHaveCount(1);

    // Only this model's buffers are on the GPU, and the previous model's were gone before its first was made.
    const { live, overlap } = await gpu.read();
    for (const earlier of Object.keys(live).map(Number)) {
      if (earlier > 0 && earlier < era) expect(live[earlier], `buffers of model ${earlier} after loading model ${era}`).toBeUndefined();
    }
    expect(live[era]).toBeGreaterThan(0);
    expect(overlap[era], `bytes of earlier models alive while model ${era} loaded`).toBe(0);

    // One turn in a new chat. The context meter then counts the prompt, as this file's own chat
    // template and tokenizer make it, plus the reply; the load used the file's context length.
    const items = page.getByRole('list', { name: 'Conversation' }).locator(':scope > li');
    if (i === 0) await settings(page, { 'Max tokens': '4', Temperature: '0' });
    else await page.getByRole('button', { name: 'New chat' }).click();
    await expect(items).toHaveCount(1); // the empty-chat hint
    await composer.fill('Hello');
    await composer.press('Enter');
    await expect(items.nth(1)).toContainText(/decode [\d.]+ tok\/s/, { timeout: 300_000 });
    mark(`${e.displayName} replied`);
    const n = Number(/(\d+) tokens?/.exec((await items.nth(1).locator('.msg-meta').textContent()) ?? '')?.[1]);
    expect(n).toBeGreaterThan(0);
    const want = expected[e.displayName];
    const ctx = Math.min(4096, want.contextLength);
    await expect(page.getByTestId('context-usage')).toHaveText(`${want.promptTokens + n} / ${ctx.toLocaleString('en-US')} tokens`);
  }
  expect(asked.every((u) => MODEL_REGISTRY.some((e) => e.url === u))).toBe(true);

  // All six are stored, each listed with its size; the picker offers a stored one for use, not for download.
  const listed = models.getByRole('listitem');
  await expect(listed).toHaveCount(MODEL_REGISTRY.length);
  for (const e of MODEL_REGISTRY) await expect(listed.filter({ hasText: e.displayName })).toContainText(`${formatBytes(expected[e.displayName].bytes)} · up to`);
  await shoot(page, 'family-2-stored');
  await models.getByRole('button', { name: 'Add a model' }).click();
  const first = MODEL_REGISTRY[0].displayName;
  await expect(page.getByRole('radio', { name: first, exact: true })).toHaveAccessibleDescription(/Stored in this browser$/);
  await page.getByRole('radio', { name: first, exact: true }).check();
  await expect(page.getByRole('button', { name: 'Use this model' })).toBeVisible();
  await expect(page.getByRole('article', { name: new RegExp(`^${first}`) }).getByRole('button', { name: /^Download/ })).toHaveCount(0);
  await page.getByRole('button', { name: 'Back to chat' }).click();

  // Deleting one (after a confirmation) leaves the others.
  page.once('dialog', (d) => void d.accept());
  await models.getByRole('button', { name: `Delete ${first}` }).click();
  await expect(listed).toHaveCount(MODEL_REGISTRY.length - 1);
  await expect(listed.filter({ hasText: first })).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a model this device cannot store is refused with its reason before any byte is fetched; a GPU warning can be overridden', async ({ page, context }) => {
  const asked = await serveRegistry(context);
  // The page's storage estimate says 3.1 GB are free, and the device reports 2 GB of RAM.
  await page.addInitScript(() => {
    const real = StorageManager.prototype.estimate;
    StorageManager.prototype.estimate = async function (this: StorageManager) {
      const e = await real.call(this);
      return { ...e, quota: (e.usage ?? 0) + 3.1e9 };
    };
    Object.defineProperty(Navigator.prototype, 'deviceMemory', { get: () => 2 });
  });
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Choose a model' })).toBeVisible();

  // The list marks both mediums as refused, for storage, and the minis as maybe too big for 2 GB.
  const medium = page.getByRole('radio', { name: 'Phi-3 medium 4k instruct', exact: true });
  await expect(medium).toHaveAccessibleDescription(/Will not fit: needs about 8\.57 GB of storage; 3\.10 GB free/);
  await expect(page.getByRole('radio', { name: 'Phi-3 medium 128k instruct' })).toHaveAccessibleDescription(/Will not fit: needs about 8\.56 GB of storage; 3\.10 GB free/);
  await expect(page.getByRole('radio', { name: 'Phi-4 mini instruct' })).toHaveAccessibleDescription(
    /May not fit: needs about 3\.03 GB of GPU memory at a 4096-token context; this device reports 2 GB of RAM$/,
  );

  await medium.check();
  const card = page.getByRole('article', { name: /^Phi-3 medium 4k instruct/ });
  await expect(card.getByText('Will not fit this device:')).toBeVisible();
  await expect(card).toContainText('it needs about 8.57 GB of storage; 3.10 GB free; and it needs about 9.41 GB of GPU memory at a 4096-token context; this device reports 2 GB of RAM.');
  const download = card.getByRole('button', { name: 'Download', exact: true });
  await expect(download).toBeDisabled();
  await download.click({ force: true }); // a disabled button does nothing, even when clicked
  await expect(page.getByRole('heading', { name: 'Choose a model' })).toBeVisible();
  expect(await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze().then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id))).toEqual([]);
  await shoot(page, 'family-1-refused');

  // A GPU need above the reported RAM is a warning: the download may go ahead.
  await page.getByRole('radio', { name: 'Phi-4 mini instruct' }).check();
  const phi4 = page.getByRole('article', { name: /^Phi-4 mini instruct/ });
  await expect(phi4.getByText('May not fit this device:')).toBeVisible();
  await expect(phi4.getByRole('button', { name: 'Download', exact: true })).toHaveCount(0);
  expect(asked).toEqual([]);
  await phi4.getByRole('button', { name: 'Download anyway' }).click();
  await expect(page.getByRole('heading', { name: 'Downloading Phi-4 mini instruct' })).toBeVisible();
  await expect.poll(() => asked.length).toBeGreaterThan(0);
  expect(new Set(asked)).toEqual(new Set([MODEL_REGISTRY.find((e) => e.displayName === 'Phi-4 mini instruct')!.url]));
  // The download need not finish: a request still in flight is dropped with the route.
  await context.unrouteAll({ behavior: 'ignoreErrors' });
});
