/**
 * Test support for the engine: a generated model opened from the test cache, and the logits of a
 * run of tokens, read back after each chunk (one readback and a staging buffer per chunk: tests only).
 */
import { fileSource } from '../model/source-node.ts';
import { readBuffer } from '../gpu/buffers.ts';
import type { Engine } from './engine.ts';
import { readModel } from './open.ts';
import { ensureModel } from '../../scripts/test-models.ts';
import type { ModelOptions } from '../../scripts/test-model-spec.ts';

/** A generated test model (made once, then cached), read as the app reads a model (readModel). */
export async function openTestModel(opts: ModelOptions) {
  const path = await ensureModel(opts);
  return { path, ...(await readModel(await fileSource(path))) };
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
