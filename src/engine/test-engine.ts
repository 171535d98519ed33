/**
 * Test support for the engine: a generated model opened from the test cache, and the logits of a
 * run of tokens, read back after each chunk (one readback and a staging buffer per chunk: tests only).
 */
import { fileSource } from '../model/source-node.ts';
import { expect } from 'vitest';
import { readBuffer } from '../gpu/buffers.ts';
import { GREEDY } from '../common/sampling.ts';
import type { GreedyTrace } from '../../scripts/llama-ref.ts';
import type { Engine } from './engine.ts';
import { readModel } from './open.ts';
import { ensureModel } from '../../scripts/test-models.ts';
import type { ModelOptions } from '../../scripts/test-model-spec.ts';

/** A generated test model (made once, then cached), read as the app reads a model (readModel). */
export async function openTestModel(opts: ModelOptions) {
  const path = await ensureModel(opts);
  return { path, ...(await readModel(await fileSource(path))) };
}

/**
 * `device` as an engine sees it with a smaller maxStorageBufferBindingSize: weights larger than
 * `bytes` are then split by rows into parts, as on a device whose limit it is.
 */
export function withBindingLimit(device: GPUDevice, bytes: number): GPUDevice {
  const limits = new Proxy(device.limits, { get: (t, p) => (p === 'maxStorageBufferBindingSize' ? bytes : Reflect.get(t, p)) });
  return new Proxy(device, {
    get: (t, p) => {
      if (p === 'limits') return limits;
      const v: unknown = Reflect.get(t, p);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** The logits of the last position, as the last step left them. */
export async function readLogits(engine: Engine): Promise<Float32Array> {
  return new Float32Array(await readBuffer(engine.device, engine.logits, engine.cfg.vocabSize * 4));
}

/**
 * Runs `ids` into the engine's cache `chunk` tokens at a time (default: the engine's prefill chunk;
 * 1 runs every token through the decode graph) and returns the logits after each chunk.
 */
export async function feed(engine: Engine, ids: readonly number[], chunk = engine.chunk): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let at = 0; at < ids.length; at += chunk) {
    engine.forward(ids.slice(at, at + chunk));
    out.push(await readLogits(engine));
  }
  return out;
}

/**
 * The engine's own generate loop (sampling on the GPU), greedy, after `prompt`: each token equals
 * llama.cpp's in `trace`, and each of llama.cpp's top 5 probabilities is within `tol` of ours.
 * Returns the largest probability difference seen.
 */
export async function expectLlamaGreedy(engine: Engine, prompt: number[], trace: GreedyTrace, tol: number, steps = 33): Promise<number> {
  engine.reset();
  const res = await engine.generate(prompt, { maxTokens: steps, topLogprobs: 5, sampling: GREEDY });
  expect(res.tokens.length).toBe(steps);
  let worstP = 0;
  res.tokens.forEach((t, s) => {
    expect(t.id, `step ${s}`).toBe(trace.steps[s].top[0][0]);
    const ours = new Map(t.top);
    for (const [id, p] of trace.steps[s].top.slice(0, 5)) {
      const lp = ours.get(id);
      if (lp === undefined) {
        // Not in our top 5: then llama.cpp's probability must be small too.
        expect(p, `step ${s}: token ${id} missing from our top 5`).toBeLessThanOrEqual(tol + Math.exp(t.top[4][1]));
        continue;
      }
      worstP = Math.max(worstP, Math.abs(Math.exp(lp) - p));
      expect(Math.abs(Math.exp(lp) - p), `step ${s} token ${id}`).toBeLessThanOrEqual(tol);
    }
  });
  return worstP;
}

/** A device whose createBuffer / createBindGroup calls are counted (everything else forwarded). */
export function countingDevice(real: GPUDevice) {
  const counts = { createBuffer: 0, createBindGroup: 0, bufferBytes: 0 };
  const proxy = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'createBuffer' || prop === 'createBindGroup') {
        return (...args: unknown[]) => {
          counts[prop]++;
          if (prop === 'createBuffer') counts.bufferBytes += (args[0] as GPUBufferDescriptor).size;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { device: proxy, counts };
}
