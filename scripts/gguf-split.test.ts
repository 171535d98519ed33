/**
 * scripts/gguf-split.ts (shards for wllama's benchmark run): every shard is a GGUF our reader
 * accepts, the tensors come through byte for byte, and llama.cpp (node-llama-cpp) loads the
 * shards as one model with the same next-token probabilities as the single file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGGUFFile } from '../src/model/source-node.ts';
import { llamaNextTokenDistributions, loadLlamaModel } from './llama-ref.ts';
import { planShards, shardPath, splitGGUF } from './gguf-split.ts';
import { ensureModel } from './test-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'gguf-split-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROMPT = [1, 15043, 3186, 29892, 920, 526, 366];

describe('gguf-split', () => {
  it('plans shards in file order, none over the limit unless one tensor is', () => {
    const t = (offset: number, nbytes: number) => ({ name: `t${offset}`, dims: [1], type: 0, offset, nbytes, nelements: 1 });
    const file = { alignment: 32, tensors: [t(64, 40), t(0, 64), t(128, 200), t(352, 10)] };
    // padded sizes in file order: 64, 64 (40), 224 (200), 32 (10)
    expect(planShards(file, 128)).toEqual([[1, 0], [2], [3]]);
    expect(planShards(file, 1000)).toEqual([[1, 0, 2, 3]]);
    expect(shardPath('/m/a.gguf', 1, 3)).toBe('/m/a-00002-of-00003.gguf');
  });

  it('writes shards llama.cpp loads as the same model, with every tensor byte for byte', async () => {
    const path = await ensureModel({ preset: 'tiny', mix: 'q4_k_m', seed: 1 });
    const whole = await readGGUFFile(path);
    const paths = await splitGGUF(path, 4e6, dir);
    expect(paths.length).toBeGreaterThanOrEqual(3);
    const bytes = readFileSync(path);
    const seen = new Set<string>();
    for (let i = 0; i < paths.length; i++) {
      const part = await readGGUFFile(paths[i]);
      expect(part.metadata.get('split.no')).toBe(i);
      expect(part.metadata.get('split.count')).toBe(paths.length);
      expect(part.metadata.get('split.tensors.count')).toBe(whole.tensors.length);
      if (i === 0) for (const [k, v] of whole.metadata) expect(part.metadata.get(k), k).toEqual(v);
      else expect(part.metadata.size).toBe(3);
      const pb = readFileSync(paths[i]);
      for (const t of part.tensors) {
        const src = whole.tensors.find((u) => u.name === t.name)!;
        expect([t.type, t.dims]).toEqual([src.type, src.dims]);
        const a = pb.subarray(part.dataOffset + t.offset, part.dataOffset + t.offset + t.nbytes);
        const b = bytes.subarray(whole.dataOffset + src.offset, whole.dataOffset + src.offset + src.nbytes);
        expect(Buffer.compare(a, b), t.name).toBe(0);
        seen.add(t.name);
      }
    }
    expect(seen.size).toBe(whole.tensors.length);

    const dists = [];
    for (const p of [path, paths[0]]) {
      const model = await loadLlamaModel(p);
      try {
        dists.push(await llamaNextTokenDistributions(model, PROMPT, { topK: 10 }));
      } finally {
        await model.dispose();
      }
    }
    expect(dists[1]).toEqual(dists[0]);
  });
});
