/**
 * The engine in the browser worker (Chromium, SwiftShader WebGPU, f32 math path: no shader-f16)
 * against llama.cpp on the same generated model: same greedy tokens at every step and top
 * probabilities within the tolerance of src/engine/forward.ref.test.ts.
 */
import { expect, test } from '@playwright/test';
import { ensureModel } from '../scripts/test-models.ts';
import { llamaGreedyFile, Q_TOL } from '../scripts/llama-ref.ts';
import { promptIds } from '../scripts/prompts.ts';
import { startModelServer, type ModelServer } from './model-server.ts';
import type { ModelCheckResult } from '../src/worker/protocol.ts';

const STEPS = 16;
let server: ModelServer;
let path: string;

test.beforeAll(async () => {
  path = await ensureModel({ preset: 'tiny', mix: 'q4_k_m', seed: 2, nKvHeads: 2 });
  server = await startModelServer({ 'tiny.gguf': path });
});
test.afterAll(async () => server?.close());

test('greedy generation in the worker equals llama.cpp (tiny q4_k_m, GQA)', async ({ page }) => {
  test.setTimeout(600_000);
  const prompt = promptIds(64);
  const trace = await llamaGreedyFile(path, prompt, STEPS - 1, { contextSize: 256 });

  await page.goto(`/?check-model=${encodeURIComponent(server.url('tiny.gguf'))}&prompt-ids=${prompt.join(',')}&n=${STEPS}&swa=0&ctx=256`);
  const out = page.getByTestId('check-result').or(page.getByTestId('check-error'));
  await expect(out).toBeVisible({ timeout: 540_000 });
  const text = (await out.textContent()) ?? '';
  expect(text.startsWith('{'), text).toBe(true);
  const result = JSON.parse(text) as ModelCheckResult;
  console.log(`[e2e engine] ${result.adapter}: load ${result.loadMs.toFixed(0)} ms, prefill ${result.prefillMs.toFixed(0)} ms, decode ${result.decodeMs.toFixed(0)} ms, ${result.dispatchesPerToken} dispatches/token`);
  expect(result.tokens).toHaveLength(STEPS);
  let worst = 0;
  result.tokens.forEach((t, s) => {
    expect(t.id, `step ${s}`).toBe(trace.steps[s].top[0][0]);
    const ours = new Map(t.top);
    for (const [id, p] of trace.steps[s].top.slice(0, 3)) {
      const lp = ours.get(id);
      expect(lp, `step ${s}: token ${id} in our top logprobs`).toBeDefined();
      worst = Math.max(worst, Math.abs(Math.exp(lp as number) - p));
    }
  });
  expect(worst).toBeLessThanOrEqual(Q_TOL);
  console.log(`[e2e engine] ${STEPS} steps equal llama.cpp, max |dp| ${worst.toExponential(2)}`);
});
