/** Context-length choices and the GPU memory arithmetic the picker and model list show. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL } from '../common/catalog.ts';
import { contextChoices, effectiveContext, gpuBytesNeeded } from './models.ts';

describe('context length', () => {
  it('offers 1024/2048/4096, capped by the model, plus the model maximum when it is not one of them', () => {
    expect(contextChoices()).toEqual([1024, 2048, 4096]);
    expect(contextChoices(4096)).toEqual([1024, 2048, 4096]);
    expect(contextChoices(131072)).toEqual([1024, 2048, 4096, 131072]);
    expect(contextChoices(2048)).toEqual([1024, 2048]);
    expect(contextChoices(512)).toEqual([512]);
    expect(contextChoices(3000)).toEqual([1024, 2048, 3000]);
  });
  it('a load gets the choice, or the model maximum when that is smaller (as the worker caps it)', () => {
    expect(effectiveContext(4096, 2048)).toBe(2048);
    expect(effectiveContext(1024, 4096)).toBe(1024);
    expect(effectiveContext(2048, undefined)).toBe(2048);
  });
  it('GPU memory is the file plus the f16 KV cache: Phi-3-mini at 4096 tokens takes 1.61 GB of KV', () => {
    expect(DEFAULT_MODEL.kvBytesPerToken).toBe(393_216); // 32 layers x 2 x 32 heads x 96 x 2 bytes
    expect(gpuBytesNeeded(2_393_231_360, 4096, 393_216)).toBe(2_393_231_360 + 1_610_612_736);
    // the tiny test model: 2 layers x 2 x 4 kv heads x 64 x 2 bytes = 2048 bytes per token
    expect(gpuBytesNeeded(12_820_160, 512, 2048)).toBe(12_820_160 + 1_048_576);
  });
});
