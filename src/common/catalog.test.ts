import { describe, expect, test } from 'vitest';
import { DEFAULT_MODEL, MODEL_REGISTRY, customModelEntry, findModel } from './catalog.ts';
import { kvBytesPerToken } from './kv.ts';

describe('catalog', () => {
  test('the default is the official Phi-3-mini 4k Q4 GGUF, MIT, with an approximate size only', () => {
    expect(DEFAULT_MODEL).toMatchObject({
      url: 'https://huggingface.co/microsoft/Phi-3-mini-4k-instruct-gguf/resolve/main/Phi-3-mini-4k-instruct-q4.gguf',
      architecture: 'phi3',
      contextLength: 4096,
      license: 'MIT',
      quant: 'Q4_K_M',
      approxBytes: 2_393_231_360,
    });
    expect(DEFAULT_MODEL.bytes).toBeUndefined(); // the exact size comes from the server
    expect(findModel(DEFAULT_MODEL.id)).toBe(DEFAULT_MODEL);
    expect(new Set(MODEL_REGISTRY.map((e) => e.id)).size).toBe(MODEL_REGISTRY.length);
  });

  // The family as its publishers list it (file, size, context) with each model card's shapes, written out independently of catalog.ts.
  const FAMILY = [
    { repo: 'microsoft/Phi-3-mini-4k-instruct-gguf', file: 'Phi-3-mini-4k-instruct-q4.gguf', gb: 2.39, ctx: 4096, shape: [32, 32, 96] },
    { repo: 'bartowski/Phi-3.1-mini-128k-instruct-GGUF', file: 'Phi-3.1-mini-128k-instruct-Q4_K_M.gguf', gb: 2.39, ctx: 131072, shape: [32, 32, 96] },
    { repo: 'bartowski/Phi-3.5-mini-instruct-GGUF', file: 'Phi-3.5-mini-instruct-Q4_K_M.gguf', gb: 2.39, ctx: 131072, shape: [32, 32, 96] },
    { repo: 'bartowski/microsoft_Phi-4-mini-instruct-GGUF', file: 'microsoft_Phi-4-mini-instruct-Q4_K_M.gguf', gb: 2.49, ctx: 131072, shape: [32, 8, 128] },
    { repo: 'bartowski/Phi-3-medium-4k-instruct-GGUF', file: 'Phi-3-medium-4k-instruct-Q4_K_M.gguf', gb: 8.57, ctx: 4096, shape: [40, 10, 128] },
    { repo: 'bartowski/Phi-3-medium-128k-instruct-GGUF', file: 'Phi-3-medium-128k-instruct-Q4_K_M.gguf', gb: 8.56, ctx: 131072, shape: [40, 10, 128] },
  ];

  test('the registry is the Phi family, in this order, each a phi3 Q4_K_M GGUF on Hugging Face with its size, context, KV size and licence', () => {
    expect(MODEL_REGISTRY).toHaveLength(FAMILY.length);
    FAMILY.forEach((f, i) => {
      const e = MODEL_REGISTRY[i];
      const [nLayers, nKvHeads, headDim] = f.shape;
      expect(e.url).toBe(`https://huggingface.co/${f.repo}/resolve/main/${f.file}`);
      expect(e.homepage).toBe(`https://huggingface.co/${f.repo}`);
      expect(e).toMatchObject({ architecture: 'phi3', quant: 'Q4_K_M', license: 'MIT', contextLength: f.ctx });
      // f16 K and V of every layer
      expect(e.kv).toEqual({ nLayers, nKvHeads, headDim });
      expect(kvBytesPerToken(e.kv!)).toBe(nLayers * 2 * nKvHeads * headDim * 2);
      // q8_0: per head, headDim int8 and an f16 scale per 32 values, the scales padded to a 4-byte word
      expect(kvBytesPerToken(e.kv!, 'q8_0')).toBe(nLayers * 2 * nKvHeads * (headDim + 4 * Math.ceil(headDim / 64)));
      // "about" the listed size: within half of its last digit (5 MB)
      expect(Math.abs((e.approxBytes ?? 0) - f.gb * 1e9)).toBeLessThanOrEqual(5e6);
      expect(e.bytes).toBeUndefined();
      expect(e.description?.length).toBeGreaterThan(40);
      expect(findModel(e.id)).toBe(e);
      expect(customModelEntry(e.url)).toBe(e);
    });
    expect(new Set(MODEL_REGISTRY.map((e) => e.displayName)).size).toBe(MODEL_REGISTRY.length);
  });

  test('customModelEntry: any http(s) GGUF URL, a stable id, the file name as display name', () => {
    const e = customModelEntry('https://example.org/models/My%20Phi.gguf#frag');
    expect(e).toEqual({
      id: 'url:https://example.org/models/My%20Phi.gguf',
      displayName: 'My Phi.gguf',
      url: 'https://example.org/models/My%20Phi.gguf',
      architecture: 'phi3',
    });
    expect(customModelEntry('/m/tiny.gguf', 'http://localhost:4173/app/').url).toBe('http://localhost:4173/m/tiny.gguf');
    expect(customModelEntry(DEFAULT_MODEL.url)).toBe(DEFAULT_MODEL);
    expect(customModelEntry('https://example.org/%E0.gguf').displayName).toBe('%E0.gguf');
    expect(() => customModelEntry('file:///tmp/x.gguf')).toThrow(/not an http\(s\) URL/);
    expect(() => customModelEntry('not a url')).toThrow(/not a valid URL/);
  });
});
