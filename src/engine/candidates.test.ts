/**
 * The split-K candidates (src/engine/candidates.ts): offered for the residual projections only
 * (Wo, down), only in the full search (real GPUs), each one made by the plan's Kernels without
 * the hand-off; and their variant family forces exactly those two roles. No weights are read:
 * the candidate lists depend on the roles' formats and the gate/up layout only, given here.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { candidatesFor, variantFamilies, type CandidateContext } from './candidates.ts';
import { Kernels } from './kernels.ts';
import type { GemvChoice, KernelRole } from './plan.ts';
import { withChoice } from './plan.ts';
import type { ModelConfig } from '../model/config.ts';
import type { ModelWeights } from './weights.ts';

const gpu = gpuForTests();

const cfg = { dim: 3072, ffnDim: 8192, headDim: 96, nLayers: 1 } as ModelConfig;
const linear = (k: number, rows: number) => ({ format: 'Q4_K', k, rows, parts: [{ rowOffset: 0 }] });
const weights = {
  layers: [{ qkv: linear(3072, 9216), wo: linear(3072, 3072), up: linear(3072, 16384), down: linear(8192, 3072) }],
  output: linear(3072, 32064),
} as unknown as ModelWeights;

function splitK(role: KernelRole, search: CandidateContext['search']): GemvChoice[] {
  const list = candidatesFor(role, { device: gpu.device, cfg, weights, role, base: {}, search }) as GemvChoice[];
  return list.filter((c) => (c.splitK ?? 1) > 1);
}

describe('split-K candidates', () => {
  it('Wo and down get them in the full search, and the plan makes each one, without the hand-off', () => {
    for (const role of ['wo', 'down'] as const) {
      const list = splitK(role, 'full');
      expect(list.length, role).toBeGreaterThanOrEqual(4);
      expect(list.some((c) => c.lanesPerRow !== undefined)).toBe(true);
      for (const c of list) {
        const k = new Kernels(gpu.device, cfg, withChoice(new Kernels(gpu.device, cfg).plan, role, c));
        const kern = k.matvec(role, 'Q4_K', role === 'wo' ? 3072 : 8192, true);
        expect(kern.splitK).toBe(c.splitK);
        expect(kern.normOut).toBe(false);
      }
    }
  });

  it('no other role, and not the seeded search (the emulators)', () => {
    for (const role of ['qkv', 'gateUp', 'lmHead'] as const) expect(splitK(role, 'full'), role).toEqual([]);
    for (const role of ['wo', 'down'] as const) expect(splitK(role, 'seeded'), role).toEqual([]);
  });

  it('its variant family forces Wo and down only', () => {
    const fams = variantFamilies(gpu.device, cfg).filter((f) => Object.values(f.roles).some((c) => ((c as GemvChoice).splitK ?? 1) > 1));
    expect(fams.map((f) => Object.keys(f.roles).sort())).toEqual([['down', 'wo']]);
    expect(fams[0].reason).toBeUndefined();
  });
});
