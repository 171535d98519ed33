/**
 * llama.cpp as the reference implementation nobody here wrote: node-llama-cpp (pinned 3.21.1,
 * prebuilt CPU binary) loads the same GGUF and gives metadata and next-token probabilities.
 * Test-only; never bundled into the app.
 */
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import type { ModelOptions } from './test-model-spec.ts';

/*
 * Probability tolerances for comparing our engine with llama.cpp: absolute, on llama.cpp's top
 * tokens at every step; shared by the CPU-reference, GPU-engine and browser tests.
 * - f32: both sides compute in f32 with f32/f64 accumulation in different orders and f16 K/V;
 *   observed max 2e-4, tolerance 1e-3.
 * - quantized mixes: llama.cpp's CPU matmuls quantize the activations to 8 bits (Q8_0 / Q8_K
 *   blocks: step amax/127, RMS rounding error ~0.6% of each element) before every dot product,
 *   which we do not; over 2 layers and the output that is ~1% relative error on the logits, i.e.
 *   |dp| ~ p * 0.01 * |logit| (logits here reach ~20): up to ~0.03 on a p ~ 0.5 token. Observed
 *   max 1.4e-2 on the tiny models, 2.4e-2 on medium-wide (LLAMA_WIDE_CASES; its logits reach ~30);
 *   tolerance 3e-2. A real bug (a wrong RoPE pair, scale or mask) changes the top-1.
 */
export const F32_TOL = 1e-3;
export const Q_TOL = 3e-2;

/**
 * How long a comparison runs (default: a 64-token prompt, then 32 greedy steps) and, where set,
 * the storage binding limit the engine's device gets (weights larger than it are split by rows).
 */
export interface LlamaRun {
  prompt: number;
  steps: number;
  maxBinding?: number;
}

/** A comparison with llama.cpp: label, generated model, probability tolerance, context size (default 256), run. */
export type LlamaCase = [label: string, model: ModelOptions, tol: number, contextSize?: number, run?: LlamaRun];

/** The generated models the CPU reference and the GPU engine are both compared with llama.cpp on. */
export const LLAMA_CASES: readonly LlamaCase[] = [
  ['tiny f32', { preset: 'tiny', mix: 'f32', seed: 1 }, F32_TOL],
  ['tiny q8_0', { preset: 'tiny', mix: 'q8_0', seed: 1 }, Q_TOL],
  ['tiny q4_0', { preset: 'tiny', mix: 'q4_0', seed: 1 }, Q_TOL],
  ['tiny q4_k_m', { preset: 'tiny', mix: 'q4_k_m', seed: 1 }, Q_TOL],
  ['tiny q4_k_m GQA', { preset: 'tiny', mix: 'q4_k_m', seed: 2, nKvHeads: 2 }, Q_TOL],
  // LongRoPE: a context above the original (512) selects the long factors; one equal to it, the short ones.
  ['tiny q4_0 LongRoPE, long factors', { preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 2048 }, Q_TOL, 2048],
  ['tiny q4_0 LongRoPE, short factors (context = original)', { preset: 'tiny', mix: 'q4_0', seed: 3, longRope: true, contextLength: 2048 }, Q_TOL, 512],
  // Phi-4-mini's differences from Phi-3-mini at tiny widths: a byte-level BPE vocabulary (the
  // learned small one; in q4_k_m the o200k one Phi-4-mini ships), no output.weight (the logits use
  // token_embd, Q6_K in the q4_k_m mix), 48 of the 64 head dims rotated, 4 query heads per KV
  // head. In f32 a RoPE error shows: rotating all 64 dims moves a probability by 2e-2 there
  // (20x F32_TOL), but by less than Q_TOL in q4_k_m, whose tied output is checked for its formats.
  ['tiny f32 BPE vocab, tied output, partial rotary 48/64, GQA 4:1', { preset: 'tiny', mix: 'f32', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true, vocab: 'bpe-small' }, F32_TOL],
  ['tiny q4_k_m o200k vocab, tied output, partial rotary 48/64, GQA 4:1', { preset: 'tiny', mix: 'q4_k_m', seed: 6, nKvHeads: 1, ropeDim: 48, tiedOutput: true, vocab: 'o200k' }, Q_TOL],
];

/**
 * Wide models, compared on a short run: each token costs the CPU reference about a second there.
 * medium-wide has Phi-3-medium's widths (5120, 40 / 10 heads of 128, FFN 17920) in one layer.
 * Repacked, its Q6_K output.weight is 127.2 MiB of blocks (the d scales move to a binding of their
 * own), which just fits WebGPU's default 128 MiB binding; at 112 MiB it is split in two and
 * nothing else is (ffn_up, the next largest, is 98.4 MiB), so the head runs in parts.
 * No bigram is planted in its pooled tensors; llama.cpp's top-2 log-margins on this run are 0.98
 * and more, against its ~1% logit error (Q_TOL above): top-1 is still decided.
 */
export const LLAMA_WIDE_CASES: readonly LlamaCase[] = [
  ['medium-wide q4_k_m: Phi-3-medium widths, one layer', { preset: 'medium-wide', mix: 'q4_k_m', seed: 1 }, Q_TOL, 256, { prompt: 16, steps: 4, maxBinding: 112 * 2 ** 20 }],
];

let llamaPromise: Promise<Llama> | undefined;

export function llamaCpu(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 2 });
  return llamaPromise;
}

export async function loadLlamaModel(path: string, opts: { vocabOnly?: boolean } = {}): Promise<LlamaModel> {
  const llama = await llamaCpu();
  return llama.loadModel({ modelPath: path, gpuLayers: 0, vocabOnly: opts.vocabOnly ?? false, useMmap: true });
}

export interface NextTokenDistribution {
  /** (token, probability) sorted by probability, highest first. */
  top: [number, number][];
  /** Sum of all probabilities llama.cpp returned. */
  total: number;
  finite: boolean;
}

/**
 * Feeds `ids` to a fresh sequence and returns llama.cpp's next-token distribution after each of
 * the positions listed in `at` (default: only the last).
 */
export async function llamaNextTokenDistributions(
  model: LlamaModel,
  ids: number[],
  opts: { at?: number[]; topK?: number; contextSize?: number } = {},
): Promise<Map<number, NextTokenDistribution>> {
  const at = new Set(opts.at ?? [ids.length - 1]);
  const topK = opts.topK ?? 10;
  const context = await model.createContext({ contextSize: opts.contextSize ?? Math.max(256, ids.length + 16), threads: 2, batchSize: Math.max(64, ids.length) });
  try {
    const seq = context.getSequence();
    const input = ids.map((id, i) =>
      at.has(i) ? ([id as Token, { generateNext: { probabilities: true } }] as const) : (id as Token),
    );
    const out = await seq.controlledEvaluate(input as Parameters<typeof seq.controlledEvaluate>[0]);
    const result = new Map<number, NextTokenDistribution>();
    out.forEach((o, i) => {
      const probs = o?.next?.probabilities;
      if (!probs) return;
      result.set(i, distribution(probs, topK));
    });
    return result;
  } finally {
    await context.dispose();
  }
}

/** The first topK of llama.cpp's probabilities (sorted best first), their total and whether all are finite. */
function distribution(probs: Iterable<[number, number]>, topK: number): NextTokenDistribution {
  let total = 0;
  let finite = true;
  const top: [number, number][] = [];
  for (const [tok, p] of probs) {
    if (!Number.isFinite(p)) finite = false;
    total += p;
    if (top.length < topK) top.push([tok, p]);
  }
  return { top, total, finite };
}

export interface GreedyTrace {
  /** prompt + generated ids */
  ids: number[];
  /** The distribution llama.cpp gave at each decision point (after the prompt, then after each generated token). */
  steps: NextTokenDistribution[];
}

/** llamaGreedy on the GGUF at `path`: loaded for this trace, disposed of after it. */
export async function llamaGreedyFile(path: string, prompt: number[], n: number, opts: LlamaGreedyOptions = {}): Promise<GreedyTrace> {
  const model = await loadLlamaModel(path);
  try {
    return await llamaGreedy(model, prompt, n, opts);
  } finally {
    await model.dispose();
  }
}

export interface LlamaGreedyOptions {
  topK?: number;
  contextSize?: number;
  /**
   * The KV cache's type (default 'f16'). 'q8_0' gives llama.cpp a q8_0 K and V cache, which its
   * CPU backend reads only through flash attention (so that is on). Its flash-attention path
   * then also rounds each query to q8_0 (the K type's vec-dot type) before q.k: one more 8-bit
   * rounding per score (relative RMS ~0.3% of each q element, ~0.1-0.2% of a score after the
   * sum), well inside Q_TOL's ~1% logit budget.
   */
  kvType?: 'f16' | 'q8_0';
}

/** llama.cpp's own greedy continuation of `prompt` for `n` tokens, with its distribution at every step. */
export async function llamaGreedy(model: LlamaModel, prompt: number[], n: number, opts: LlamaGreedyOptions = {}): Promise<GreedyTrace> {
  const topK = opts.topK ?? 10;
  const q8 = opts.kvType === 'q8_0' ? ({ experimentalKvCacheKeyType: 'Q8_0', experimentalKvCacheValueType: 'Q8_0', flashAttention: true } as const) : {};
  // The context size matters: llama.cpp picks LongRoPE's long factors when it exceeds the original context.
  const context = await model.createContext({ contextSize: opts.contextSize ?? Math.max(256, prompt.length + n + 16), threads: 2, batchSize: Math.max(64, prompt.length), ...q8 });
  try {
    const seq = context.getSequence();
    const ids = [...prompt];
    const steps: NextTokenDistribution[] = [];
    let input: number[] = prompt;
    for (let s = 0; s <= n; s++) {
      const items = input.map((id, i) => (i === input.length - 1 ? ([id as Token, { generateNext: { probabilities: true } }] as const) : (id as Token)));
      const out = await seq.controlledEvaluate(items as Parameters<typeof seq.controlledEvaluate>[0]);
      const probs = out[input.length - 1]?.next?.probabilities;
      if (!probs) throw new Error('llama.cpp returned no probabilities');
      const dist = distribution(probs, topK);
      steps.push(dist);
      if (s === n) break;
      const next = dist.top[0][0];
      ids.push(next);
      input = [next];
    }
    return { ids, steps };
  } finally {
    await context.dispose();
  }
}
