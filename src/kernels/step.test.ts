import { describe, expect, it } from 'vitest';
import { STEP_WGSL, packStep, stepUniforms } from './step.ts';

describe('Step uniform', () => {
  it('packs pos0, nTokens, kvLen = pos0 + nTokens in WGSL order', () => {
    const words = new Uint32Array(packStep({ pos0: 4000, nTokens: 37 }));
    expect([...words]).toEqual([4000, 37, 4037, 0]);
    expect(stepUniforms.byteSize).toBe(16);
    expect(STEP_WGSL.replace(/\s+/g, ' ')).toContain('struct Step { pos0: u32, nTokens: u32, kvLen: u32, _pad: u32, }');
  });

  it('rejects a step of no tokens or a negative position', () => {
    expect(() => packStep({ pos0: 0, nTokens: 0 })).toThrow();
    expect(() => packStep({ pos0: -1, nTokens: 1 })).toThrow();
    expect(() => packStep({ pos0: 1.5, nTokens: 1 })).toThrow();
  });
});
