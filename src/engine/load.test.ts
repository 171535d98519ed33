/**
 * Engine.load makes every buffer and starts every pipeline first, then uploads the weights while
 * the pipelines compile. Shown here: a loaded engine needs no compile at its first step (every
 * pipeline is compiled by the time load resolves), and a source that fails part-way through the
 * weights (a dropped network, a damaged stored chunk) rejects load with that error, after
 * destroying every buffer load made.
 */
import { describe, expect, it } from 'vitest';
import { fileSource } from '../model/source-node.ts';
import { readGGUF } from '../model/gguf.ts';
import { modelConfigFromGGUF } from '../model/config.ts';
import { ModelSourceError } from '../common/errors.ts';
import type { ByteSource } from '../model/gguf-types.ts';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { Engine } from './engine.ts';
import { ensureModel } from '../../scripts/test-models.ts';
import { GREEDY } from '../common/sampling.ts';

const gpu = gpuForTests();

/** A device that records the buffers made through it, which of them were destroyed, and pipeline creation calls. */
function trackingDevice(real: GPUDevice) {
  const made: GPUBuffer[] = [];
  const destroyed = new Set<GPUBuffer>();
  const calls = { sync: 0, async: 0 };
  const proxy = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as (...a: unknown[]) => unknown;
      if (prop === 'createBuffer') {
        return (...args: unknown[]) => {
          const b = fn.apply(target, args) as GPUBuffer;
          const destroy = b.destroy.bind(b);
          b.destroy = () => {
            destroyed.add(b);
            destroy();
          };
          made.push(b);
          return b;
        };
      }
      if (prop === 'createComputePipeline' || prop === 'createComputePipelineAsync') {
        return (...args: unknown[]) => {
          calls[prop === 'createComputePipeline' ? 'sync' : 'async']++;
          return fn.apply(target, args);
        };
      }
      return fn.bind(target);
    },
  });
  return { device: proxy, made, destroyed, calls };
}

async function tinyModel() {
  const path = await ensureModel({ preset: 'tiny', mix: 'q4_k_m', seed: 1 });
  const src = await fileSource(path);
  const file = await readGGUF(src);
  return { src, file, cfg: modelConfigFromGGUF(file) };
}

describe('Engine.load', () => {
  it('compiles every pipeline in the background during the upload: the first steps compile nothing', async () => {
    const { src, file, cfg } = await tinyModel();
    const t = trackingDevice(gpu.device);
    const engine = await Engine.load(t.device, file, src, cfg, { contextLength: 256 });
    try {
      expect(t.calls.sync).toBe(0);
      expect(t.calls.async).toBeGreaterThan(10);
      const before = { ...t.calls };
      // a prefill of several tokens (the GEMM and prefill attention) and decode steps
      const res = await engine.generate([1, 2, 3, 4, 5, 6], { maxTokens: 3, sampling: GREEDY });
      expect(res.tokens).toHaveLength(3);
      expect(t.calls).toEqual(before);
    } finally {
      engine.destroy();
      await src.close();
    }
  });

  it('a source failing part-way through the weights rejects load with its error and destroys every buffer', async () => {
    const { src, file, cfg } = await tinyModel();
    const failAt = file.dataOffset + Math.floor((src.size - file.dataOffset) / 2);
    const failing: ByteSource = {
      size: src.size,
      name: src.name,
      read: async (offset, length) => {
        if (offset + length > failAt) throw new ModelSourceError(`test: the connection dropped at byte ${failAt}`);
        return src.read(offset, length);
      },
    };
    const t = trackingDevice(gpu.device);
    try {
      await expect(Engine.load(t.device, file, failing, cfg, { contextLength: 256 })).rejects.toThrow(/the connection dropped/);
      expect(t.made.length).toBeGreaterThan(20);
      expect(t.made.filter((b) => !t.destroyed.has(b))).toEqual([]);
    } finally {
      await src.close();
    }
  });
});
