/**
 * Profiled dispatches attributed to the weight they read: which GEMV (decode) or GEMM (prefill)
 * of the layer a dispatch is, so the benchmark can report GB/s per role (bytes of that role's
 * weights / its GPU time) and GFLOP/s per GEMM shape.
 *
 * A dispatch's kind is its pipeline's label, which names the kernel, not the weight: Wo and Wdown
 * share `matvec.*`, and prefill's four GEMMs share `matmul.*`. The role follows from the order the
 * graphs record a layer in (src/engine/decode.ts, src/engine/prefill.ts):
 *   decode:  norm_matvec (QKV), attention, matvec (Wo), swiglu_matvec (gate/up), matvec (Wdown);
 *            unfused feed-forward: rmsnorm, matvec (gate/up), silu_mul, matvec (Wdown)
 *   prefill: rmsnorm, matmul (QKV), rope_kv, attention, matmul (Wo), rmsnorm, matmul (gate/up),
 *            silu_mul, matmul (Wdown)
 *   head pass: the GEMV of the output matrix (lm_head).
 * A weight split into row parts is several dispatches of the same kind in a row: one role. The
 * result is checked against the layer count (each role once per layer, lm_head once per step); a
 * graph recorded in another order fails the check and the caller reports why instead of guessing.
 */
import type { DispatchTime } from './profile.ts';
import type { ModelWeights } from './weights.ts';

export const ROLES = ['qkv', 'wo', 'gate_up', 'down', 'lm_head'] as const;
export type Role = (typeof ROLES)[number];

/** How the report names each role. */
export const ROLE_NAMES: Record<Role, string> = { qkv: 'QKV', wo: 'Wo', gate_up: 'gate/up', down: 'down', lm_head: 'lm_head' };

/** What follows a layer's role among its weight kernels. */
const NEXT: Record<Role, Role> = { qkv: 'wo', wo: 'gate_up', gate_up: 'down', down: 'qkv', lm_head: 'qkv' };

const base = (kind: string) => kind.split('.')[0];
/** Kernels whose weight is one of a layer's linears and whose label does not say which. */
const PLAIN_WEIGHT = new Set(['matvec', 'matvec_norm_out', 'matmul']);
/** Kernels that read a weight matrix at all (the head's may be any of them). */
const ANY_WEIGHT = new Set([...PLAIN_WEIGHT, 'norm_matvec', 'swiglu_matvec']);

/**
 * The role of each dispatch (undefined for kernels that read no weight matrix: norms, attention,
 * embedding, sampler), or the reason the dispatches do not follow the expected layer order.
 * `times` in recording order; `layers`: the model's layer count.
 */
export function attributeRoles(times: readonly DispatchTime[], layers: number): { roles: (Role | undefined)[] } | { skipped: string } {
  const roles: (Role | undefined)[] = [];
  let next: Role = 'qkv';
  let prev: { kind: string; step: number; role?: Role } | undefined;
  // role runs (a weight's parts count once) per step
  const runs = new Map<number, Record<Role, number>>();
  for (const t of times) {
    const k = base(t.kind);
    let role: Role | undefined;
    const continues = prev && prev.step === t.step && prev.kind === t.kind && prev.role;
    if (continues) role = prev?.role;
    else if (t.pass === 'head') role = ANY_WEIGHT.has(k) ? 'lm_head' : undefined;
    else if (k === 'embed') next = 'qkv';
    else if (k === 'norm_matvec') role = 'qkv';
    else if (k === 'swiglu_matvec') role = 'gate_up';
    else if (k === 'silu_mul') next = 'down';
    else if (k.startsWith('rope') || k.startsWith('attention')) next = 'wo';
    else if (PLAIN_WEIGHT.has(k)) role = next;
    if (role && !continues) {
      next = NEXT[role];
      const r = runs.get(t.step) ?? { qkv: 0, wo: 0, gate_up: 0, down: 0, lm_head: 0 };
      r[role]++;
      runs.set(t.step, r);
    }
    roles.push(role);
    prev = { kind: t.kind, step: t.step, role };
  }
  for (const [step, r] of runs) {
    for (const role of ROLES) {
      const want = role === 'lm_head' ? Math.min(1, r.lm_head) : layers;
      if (r[role] !== want || r.lm_head > 1) {
        return { skipped: `step ${step}'s dispatches do not follow the expected layer order (${ROLES.map((x) => `${x} ${r[x]}`).join(', ')} for ${layers} layers)` };
      }
    }
  }
  if (runs.size === 0) return { skipped: 'no weight dispatch was profiled' };
  return { roles };
}

/** The weights of each role, over every layer: bytes in the file (what a GEMV reads) and the shape. */
export interface RoleWeights {
  role: Role;
  /** Bytes of all layers' tensors of this role. */
  bytes: number;
  /** Output rows and input features of one layer's matrix. */
  rows: number;
  k: number;
  /** Matrices of this role a step reads (the layer count; 1 for lm_head). */
  count: number;
}

export function roleWeights(weights: ModelWeights): RoleWeights[] {
  const layer = (role: Exclude<Role, 'lm_head'>) => {
    const key = role === 'gate_up' ? 'up' : role;
    const ls = weights.layers.map((l) => l[key]);
    return { role, bytes: ls.reduce((s, l) => s + l.fileBytes, 0), rows: ls[0]?.rows ?? 0, k: ls[0]?.k ?? 0, count: ls.length };
  };
  const out = weights.output;
  return [layer('qkv'), layer('wo'), layer('gate_up'), layer('down'), { role: 'lm_head', bytes: out.fileBytes, rows: out.rows, k: out.k, count: 1 }];
}

/** GPU time per role: dispatches and ms per step, and GB/s = the role's weight bytes / its time. */
export interface RoleTime {
  role: Role;
  name: string;
  dispatchesPerStep: number;
  msPerStep: number;
  /** Weight bytes of this role one step reads. */
  bytes: number;
  GBps: number;
  /** Share of the profiled GPU time of the step. */
  fraction: number;
}

/** Per-role totals over `steps` decode steps, in layer order. */
export function summarizeRoles(times: readonly DispatchTime[], roles: readonly (Role | undefined)[], weights: readonly RoleWeights[], steps: number): RoleTime[] {
  const total = times.reduce((s, t) => s + t.ns, 0);
  return weights.map((w) => {
    let ns = 0;
    let n = 0;
    times.forEach((t, i) => {
      if (roles[i] === w.role) {
        ns += t.ns;
        n++;
      }
    });
    const msPerStep = ns / 1e6 / steps;
    return { role: w.role, name: ROLE_NAMES[w.role], dispatchesPerStep: n / steps, msPerStep, bytes: w.bytes, GBps: ns > 0 ? w.bytes / (msPerStep / 1000) / 1e9 : 0, fraction: total > 0 ? ns / total : 0 };
  });
}
