/**
 * Attribution of profiled dispatches to GEMV/GEMM roles (src/engine/roles.ts) on dispatch
 * sequences shaped like the decode and prefill graphs' (fused and unfused feed-forward, weights
 * split into row parts), and refusal of a sequence in another order. The real graphs' sequences
 * are checked in profile.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { attributeRoles, summarizeRoles, type Role, type RoleWeights } from './roles.ts';
import type { DispatchTime } from './profile.ts';

const seq = (steps: [string, string][][]): DispatchTime[] =>
  steps.flatMap((ds, step) => ds.map(([pass, kind], i) => ({ kind, pass, step, ns: 1000 * (i + 1), at: 0 })));

const L = 'layers';
const decodeLayer = (fused: boolean, woParts = 1): [string, string][] => [
  [L, 'norm_matvec.Q4_K'],
  [L, 'attention.decode_rope'],
  [L, 'attention.merge'],
  ...Array.from({ length: woParts }, (): [string, string] => [L, 'matvec.Q4_K']),
  ...(fused
    ? ([[L, 'swiglu_matvec.Q4_K']] as [string, string][])
    : ([
        [L, 'rmsnorm'],
        [L, 'matvec.Q4_K'],
        [L, 'matvec.Q4_K'],
        [L, 'silu_mul'],
      ] as [string, string][])),
  [L, 'matvec_norm_out.Q6_K'],
];
const head: [string, string][] = [
  ['head', 'norm_matvec.Q6_K'],
  ['head', 'sample.partial'],
  ['head', 'sample.final'],
];
const roleList = (roles: (Role | undefined)[]) => roles.filter((r) => r !== undefined);

describe('attributeRoles', () => {
  it('decode, fused feed-forward, two steps', () => {
    const step = [[L, 'embed.Q4_K'] as [string, string], ...decodeLayer(true), ...decodeLayer(true), ...head];
    const a = attributeRoles(seq([step, step]), 2);
    expect('roles' in a && roleList(a.roles)).toEqual(Array(2).fill(['qkv', 'wo', 'gate_up', 'down', 'qkv', 'wo', 'gate_up', 'down', 'lm_head']).flat());
  });

  it('decode, unfused feed-forward split into two parts, Wo in two parts', () => {
    const step = [[L, 'embed.Q4_K'] as [string, string], ...decodeLayer(false, 2), ...decodeLayer(false, 2), ...head];
    const a = attributeRoles(seq([step]), 2);
    expect('roles' in a && roleList(a.roles)).toEqual(['qkv', 'wo', 'wo', 'gate_up', 'gate_up', 'down', 'qkv', 'wo', 'wo', 'gate_up', 'gate_up', 'down', 'lm_head']);
  });

  it('prefill', () => {
    const layer: [string, string][] = [
      [L, 'rmsnorm'],
      [L, 'matmul.Q4_K'],
      [L, 'rope_kv.normal'],
      [L, 'attention.prefill'],
      [L, 'matmul.Q4_K'],
      [L, 'rmsnorm'],
      [L, 'matmul.Q4_K'],
      [L, 'silu_mul'],
      [L, 'matmul.Q6_K'],
    ];
    const step = [[L, 'embed.Q4_K'] as [string, string], ...layer, ...layer, ...layer, ['head', 'norm_matvec.Q6_K'] as [string, string]];
    const a = attributeRoles(seq([step, step]), 3);
    expect('roles' in a && roleList(a.roles)).toEqual(Array(2).fill([...Array(3).fill(['qkv', 'wo', 'gate_up', 'down']).flat(), 'lm_head']).flat());
  });

  it('refuses a sequence that does not follow the layer order', () => {
    // Wdown missing from the second layer
    const step = [[L, 'embed.Q4_K'] as [string, string], ...decodeLayer(true), ...decodeLayer(true).slice(0, -1), ...head];
    const a = attributeRoles(seq([step]), 2);
    expect('skipped' in a && a.skipped).toMatch(/expected layer order/);
    expect('skipped' in attributeRoles(seq([step]), 3)).toBe(true);
    expect(attributeRoles([], 2)).toEqual({ skipped: 'no weight dispatch was profiled' });
  });

  it('summarizeRoles: time, bytes / time, dispatches per step', () => {
    const step = [...decodeLayer(true), ...head];
    const times = seq([step, step]);
    const a = attributeRoles(times, 1);
    if (!('roles' in a)) throw new Error(a.skipped);
    const weights: RoleWeights[] = (['qkv', 'wo', 'gate_up', 'down', 'lm_head'] as const).map((role) => ({ role, bytes: 1e6, rows: 1, k: 1, count: 1 }));
    const r = summarizeRoles(times, a.roles, weights, 2);
    // qkv is the first dispatch of each step: 1000 ns
    expect(r[0]).toMatchObject({ role: 'qkv', name: 'QKV', dispatchesPerStep: 1, msPerStep: 0.001 });
    expect(r[0].GBps).toBeCloseTo(1e6 / 1e-6 / 1e9, 6);
    expect(r[4]).toMatchObject({ role: 'lm_head', dispatchesPerStep: 1, msPerStep: 0.007 });
    const total = times.reduce((s, t) => s + t.ns, 0);
    expect(r[4].fraction).toBeCloseTo((2 * 7000) / total, 12);
  });
});
