import { describe, expect, test } from 'vitest';
import { parseContentRange, sameETag, unsatisfiedRangeTotal } from './http.ts';

describe('http helpers', () => {
  test('Content-Range parsing', () => {
    expect(parseContentRange('bytes 0-99/1000')).toEqual({ start: 0, end: 99, total: 1000 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9 });
    expect(parseContentRange('bytes 9-5/10')).toBeUndefined();
    expect(parseContentRange('items 0-1/2')).toBeUndefined();
    expect(parseContentRange(null)).toBeUndefined();
    expect(unsatisfiedRangeTotal('bytes */64320')).toBe(64320);
    expect(sameETag('W/"abc"', '"abc"')).toBe(true);
    expect(sameETag('"abc"', '"abd"')).toBe(false);
  });
});
