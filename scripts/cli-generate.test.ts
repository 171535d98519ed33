/** `npm run cli -- generate` end to end: JSON lines per token, a stats line, greedy = llama.cpp. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ensureModel } from './test-models.ts';
import { llamaGreedyFile } from './llama-ref.ts';
import { promptIds } from './prompts.ts';

describe('cli generate', () => {
  it.for(['f16', 'q8_0'] as const)('--kv-type %s: one JSON line per token and a stats line; greedy tokens equal llama.cpp', async (kvType) => {
    const path = await ensureModel({ preset: 'tiny', mix: 'q4_0', seed: 1 });
    const prompt = promptIds(24);
    const out = execFileSync(
      'npx',
      ['tsx', '--import', './scripts/register-raw.mjs', 'scripts/cli.ts', 'generate', '--model', path, '--prompt-ids', prompt.join(','), '--max-tokens', '6', '--temperature', '0', '--ctx', '256', '--no-swa', '--kv-type', kvType, '--json'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    const tokens = lines.slice(0, -1) as { id: number; text: string; top: [number, number][] }[];
    const { stats } = lines.at(-1) as { stats: Record<string, unknown> };
    expect(tokens).toHaveLength(6);
    for (const t of tokens) {
      expect(typeof t.text).toBe('string');
      expect(t.top[0][0]).toBe(t.id);
      expect(t.top.length).toBe(5);
    }
    expect(stats.generatedTokens).toBe(6);
    expect(stats.finishReason).toBe('length');
    for (const k of ['loadMs', 'prefillTokPerS', 'decodeTokPerS', 'dispatchesPerToken', 'weightBytesPerToken', 'kvBytes', 'gpuBytes']) expect(stats[k], k).toBeGreaterThan(0);
    expect(stats.kvType).toBe(kvType);
    expect(stats.gpuBytes as number).toBeGreaterThan((stats.kvBytes as number) + (stats.weightBytesPerToken as number) / 2);

    const trace = await llamaGreedyFile(path, prompt, 6, { contextSize: 256, kvType });
    expect(tokens.map((t) => t.id)).toEqual(trace.ids.slice(prompt.length));
  });
});
