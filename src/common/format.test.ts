import { describe, expect, test } from 'vitest';
import { formatBytes } from './format.ts';

describe('format', () => {
  test('formatBytes', () => {
    expect(formatBytes(2_393_231_360)).toBe('2.39 GB');
    expect(formatBytes(32768)).toBe('32.8 KB');
    expect(formatBytes(999)).toBe('999 bytes');
    expect(formatBytes(NaN)).toBe('an unknown amount');
  });
});
