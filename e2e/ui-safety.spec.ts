/**
 * Safety of the chat app in the browser:
 * 1. The Content-Security-Policy is in force in the page and in the engine worker, the first-run
 *    flow (download by URL, load, chat) breaks none of it, and every request goes to the app's own
 *    origin or to the model URL. Positive controls prove the violation listeners would have heard.
 * 2. A model reply with HTML in it renders as text through the real chat UI: the page's engine
 *    (`window.phi3`) is given a crafted reply stream in place of the model's (random weights cannot
 *    be made to say this), and everything from useChat through <Markdown> and DOMPurify is the app's.
 * Would fail if the policy were missing or loosened, if a worker fetched elsewhere, if
 * markdown.ts let raw HTML or javascript: links through, or if highlighting or Copy broke.
 */
import { expect, test, type Page, type Worker } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import { DESKTOP, PHONE, SCREENS } from './screens.ts';

let server: ModelServer;

test.beforeAll(async () => {
  const path = await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 });
  server = await startModelServer({ 'tiny-q4_0.gguf': path });
});
test.afterAll(async () => server?.close());

type Violation = { where: string; directive: string; blocked: string };
type Win = { __csp: Violation[]; __pwned?: number };

/** Records CSP violations in the page from its first script on (init script) and in each worker. */
async function watchViolations(page: Page): Promise<{ workers: Worker[]; console: string[] }> {
  await page.addInitScript(() => {
    const w = window as unknown as Win;
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push({ where: 'page', directive: e.effectiveDirective, blocked: e.blockedURI }));
  });
  const seen = { workers: [] as Worker[], console: [] as string[] };
  const onConsole = (text: string) => {
    if (/Content Security Policy|Refused to/i.test(text)) seen.console.push(text);
  };
  page.on('console', (m) => onConsole(m.text()));
  page.on('worker', (w) => {
    seen.workers.push(w);
    w.on('console', (m) => onConsole(m.text()));
    void w
      .evaluate(() => {
        const g = self as unknown as Win;
        g.__csp = [];
        self.addEventListener('securitypolicyviolation', (e) => g.__csp.push({ where: 'worker', directive: e.effectiveDirective, blocked: e.blockedURI }));
      })
      .catch(() => undefined);
  });
  return seen;
}

async function violations(page: Page, workers: Worker[]): Promise<Violation[]> {
  const all = await page.evaluate(() => (window as unknown as Win).__csp);
  for (const w of workers) all.push(...(await w.evaluate(() => (self as unknown as Win).__csp ?? []).catch(() => [])));
  return all;
}

test('CSP holds through the first run, and a reply with HTML in it renders as text', async ({ page, context, baseURL }) => {
  test.setTimeout(900_000);
  const origin = new URL(baseURL ?? 'http://localhost').origin;
  const modelUrl = server.url('tiny-q4_0.gguf');
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const seen = await watchViolations(page);

  // 1. The policy arrives as a header and as a <meta>, and says what src/ui/csp.ts says.
  const response = await page.goto(`/?model=${encodeURIComponent(modelUrl)}`);
  const header = response?.headers()['content-security-policy'] ?? '';
  expect(header).toContain("script-src 'self'");
  expect(header).toContain('connect-src \'self\' https://huggingface.co https://*.huggingface.co https://*.hf.co http://localhost:* http://127.0.0.1:*');
  expect(header).not.toContain('unsafe');
  expect(await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')).toBe(header);

  // 2. First run: download by URL, load, one real reply.
  await page.getByRole('button', { name: 'Download from URL' }).click();
  const composer = page.getByRole('textbox', { name: 'Message' });
  await expect(composer).toBeVisible({ timeout: 400_000 });
  await composer.fill('Hello');
  await composer.press('Enter');
  const conversation = page.getByRole('list', { name: 'Conversation' });
  // The first streamed text comes through <Markdown>; then stop (a full reply takes minutes on SwiftShader).
  await expect(conversation.locator('.msg.assistant .markdown').last()).toBeAttached({ timeout: 300_000 });
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled({ timeout: 120_000 });

  expect(seen.workers.length).toBeGreaterThan(0); // the engine worker (and the service worker's is not a page worker)
  expect(await violations(page, seen.workers)).toEqual([]);
  expect(seen.console).toEqual([]);
  const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && u !== modelUrl);
  expect(foreign).toEqual([]);
  expect(requests.filter((u) => u === modelUrl).length).toBeGreaterThan(0); // the worker's download was seen

  // 3. Positive controls: a fetch to another host is refused, in the page and in the engine
  // worker (whose policy comes from its script's response header, not from the page's <meta>).
  const engineWorker = seen.workers.find((w) => /engine\.worker/.test(w.url()));
  expect(engineWorker, `workers: ${seen.workers.map((w) => w.url()).join(', ')}`).toBeTruthy();
  expect(await page.evaluate(() => fetch('https://example.org/x.gguf').then(() => 'fetched', () => 'refused'))).toBe('refused');
  expect(await engineWorker!.evaluate(() => fetch('https://example.org/y.gguf').then(() => 'fetched', () => 'refused'))).toBe('refused');
  // The page reports it once per policy (header and <meta>), the worker once (its header).
  await expect.poll(async () => (await violations(page, seen.workers)).map((v) => `${v.where} ${v.directive} ${v.blocked}`).sort()).toEqual([
    'page connect-src https://example.org/x.gguf',
    'page connect-src https://example.org/x.gguf',
    'worker connect-src https://example.org/y.gguf',
  ]);
  // An inline script does not run.
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = '(window).__pwned = 1';
    document.body.append(s);
  });
  expect(await page.evaluate(() => (window as unknown as Win).__pwned)).toBeUndefined();
  await page.evaluate(() => ((window as unknown as Win).__csp.length = 0));
  await engineWorker!.evaluate(() => ((self as unknown as Win).__csp.length = 0));

  // 4. A crafted reply, streamed through the app's chat path; it pauses inside an open code fence.
  const head =
    'Here is output: <img src=x onerror="window.__pwned=2"> and <script>window.__pwned=3</script>.\n\n' +
    '[click me](javascript:alert(3)) and [docs](https://example.org/docs) and <a href="javascript:alert(4)">raw link</a>\n\n' +
    '```python\ndef greet(name):\n';
  const tail = '    return f"<b>Hello {name}</b>"\n```\n\nDone.';
  await page.evaluate(
    ({ head, tail }) => {
      type Chunk = { choices: { index: 0; delta: { content?: string }; finish_reason: string | null }[] };
      const w = window as unknown as { phi3: { chat: { completions: { create: unknown } } }; __release?: () => void };
      const pieces = (s: string) => s.match(/[\s\S]{1,7}/g) ?? [];
      w.phi3.chat.completions.create = async () => ({
        async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
          const tick = () => new Promise((r) => setTimeout(r, 5));
          for (const p of pieces(head)) {
            await tick();
            yield { choices: [{ index: 0, delta: { content: p }, finish_reason: null }] };
          }
          await new Promise<void>((r) => (w.__release = r));
          for (const p of pieces(tail)) {
            await tick();
            yield { choices: [{ index: 0, delta: { content: p }, finish_reason: null }] };
          }
          yield { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] };
        },
      });
    },
    { head, tail },
  );
  await composer.fill('Show me some HTML');
  await composer.press('Enter');
  const reply = conversation.getByRole('listitem').last();
  // Mid-stream, inside the unclosed fence: already a highlighted code block, no stray backticks.
  await page.waitForFunction(() => Boolean((window as unknown as { __release?: () => void }).__release));
  await expect(reply.locator('pre code .hljs-keyword')).toHaveText('def');
  await expect(reply).not.toContainText('```');
  await expect(page.getByRole('button', { name: 'Stop' })).toBeEnabled();
  await page.evaluate(() => (window as unknown as { __release: () => void }).__release());
  await expect(reply).toContainText('Done.');
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();

  await expect(reply).toContainText('<img src=x onerror="window.__pwned=2">');
  await expect(reply).toContainText('<script>window.__pwned=3</script>');
  await expect(reply).toContainText('[click me](javascript:alert(3))');
  await expect(reply).toContainText('<a href="javascript:alert(4)">raw link</a>');
  await expect(conversation.locator('img, script, iframe, object, embed, svg, style')).toHaveCount(0);
  await expect(conversation.locator('[href^="javascript" i], [onerror], [onclick], [onload]')).toHaveCount(0);
  await expect(reply.getByRole('link')).toHaveCount(1);
  const docs = reply.getByRole('link', { name: 'docs' });
  await expect(docs).toHaveAttribute('href', 'https://example.org/docs');
  await expect(docs).toHaveAttribute('target', '_blank');
  await expect(docs).toHaveAttribute('rel', 'noopener noreferrer');
  await expect(reply.locator('code.language-python .hljs-string')).toHaveText('f"<b>Hello {name}</b>"');

  // Copy code puts the code's text (not its highlighting markup) on the clipboard.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  await reply.getByRole('button', { name: 'Copy code' }).click();
  await expect(reply.getByRole('button', { name: 'Copy code' })).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('def greet(name):\n    return f"<b>Hello {name}</b>"\n');

  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: `${SCREENS}/safety-reply-desktop.png` });
  await page.setViewportSize(PHONE);
  await reply.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SCREENS}/safety-reply-phone.png` });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: `${SCREENS}/safety-reply-phone-dark.png` });
  await page.emulateMedia({ colorScheme: 'light' });

  expect(await page.evaluate(() => (window as unknown as Win).__pwned)).toBeUndefined();
  expect(dialogs).toEqual([]);
  expect(await violations(page, seen.workers)).toEqual([]);
  expect(errors).toEqual([]);
});
