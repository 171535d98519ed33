import { describe, expect, test } from 'vitest';
import { DEFAULT_MODEL, MODEL_REGISTRY, customModelEntry, findModel } from './catalog.ts';

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
