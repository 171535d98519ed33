import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { TuningStore } from './tuning-store.ts';

describe('TuningStore', () => {
  it('keeps one record per key until deleted or cleared', async () => {
    const s = new TuningStore<{ plan: string }>('tuning-test');
    expect(await s.get('a')).toBeUndefined();
    const before = Date.now();
    await s.put('a', { plan: 'one' });
    await s.put('b', { plan: 'two' });
    await s.put('a', { plan: 'three' });
    const a = await s.get('a');
    expect(a?.value).toEqual({ plan: 'three' });
    expect(a?.key).toBe('a');
    expect(a!.savedAt).toBeGreaterThanOrEqual(before);
    await s.delete('a');
    expect(await s.get('a')).toBeUndefined();
    expect((await s.get('b'))?.value.plan).toBe('two');
    await s.clear();
    expect(await s.get('b')).toBeUndefined();
  });
});
