/** Context-length choices, the KV type each gets, and the GPU memory arithmetic the picker and model list show. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_MODEL, MODEL_REGISTRY, type ModelEntry } from '../common/catalog.ts';
import { kvBytesPerToken, type KvShape } from '../common/kv.ts';
import {
  contextChoices,
  contextOptions,
  effectiveContext,
  gpuBytesNeeded,
  kvChoice,
  kvOption,
  largestContext,
  rememberedKvPreference,
  rememberKvPreference,
} from './models.ts';

const GiB = 2 ** 30;
const byName = (name: string): ModelEntry & { kv: KvShape } => {
  const e = MODEL_REGISTRY.find((m) => m.displayName === name);
  if (!e?.kv) throw new Error(`no ${name} with a KV shape in the catalog`);
  return e as ModelEntry & { kv: KvShape };
};
const file = (e: ModelEntry) => e.approxBytes ?? 0;
const MINI_128K = byName('Phi-3 mini 128k instruct');
const PHI4_MINI = byName('Phi-4 mini instruct');
/** WebGPU's default maxStorageBufferBindingSize (128 MiB): what a device gives when the adapter's larger limit is not asked for. */
const DEFAULT_BINDING = 128 * 2 ** 20;

describe('context length', () => {
  it('offers 1K to 4K, then 8K to 128K to a model trained for more, each capped by the model, plus its maximum when not listed', () => {
    expect(contextChoices()).toEqual([1024, 2048, 4096]);
    expect(contextChoices(4096)).toEqual([1024, 2048, 4096]);
    expect(contextChoices(131072)).toEqual([1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]);
    expect(contextChoices(16384)).toEqual([1024, 2048, 4096, 8192, 16384]);
    expect(contextChoices(20000)).toEqual([1024, 2048, 4096, 8192, 16384, 20000]);
    expect(contextChoices(2048)).toEqual([1024, 2048]);
    expect(contextChoices(512)).toEqual([512]);
    expect(contextChoices(3000)).toEqual([1024, 2048, 3000]);
  });
  it('a load gets the choice, or the model maximum when that is smaller (as the worker caps it)', () => {
    expect(effectiveContext(4096, 2048)).toBe(2048);
    expect(effectiveContext(1024, 4096)).toBe(1024);
    expect(effectiveContext(2048, undefined)).toBe(2048);
  });
});

describe('GPU memory from the shapes', () => {
  it('Phi-3-mini at 4096 tokens: 1.61 GB of KV in 16 bits, 0.87 GB in 8 bits, beside its 2.39 GB of weights', () => {
    const mini = DEFAULT_MODEL.kv!;
    const f16 = kvOption(file(DEFAULT_MODEL), mini, 4096, 'f16', {});
    const q8 = kvOption(file(DEFAULT_MODEL), mini, 4096, 'q8_0', {});
    // 32 layers x (K, V) x 32 heads x 96 values: 2 bytes each, or 96 int8 + three f16 scales padded to 8 bytes
    expect(f16.kvBytes).toBe(32 * 2 * 32 * 96 * 2 * 4096);
    expect(f16.kvBytes).toBe(1_610_612_736);
    expect(q8.kvBytes).toBe(32 * 2 * 32 * 104 * 4096);
    expect(q8.kvBytes).toBe(872_415_232);
    expect(f16.gpuBytes).toBe(2_393_231_360 + 1_610_612_736);
    expect(q8.gpuBytes).toBe(gpuBytesNeeded(2_393_231_360, 4096, kvBytesPerToken(mini, 'q8_0')));
  });
});

describe('the KV type chosen', () => {
  it('automatic: 16 bits up to 4K when it fits, 8 bits above 4K even where 16 bits would fit', () => {
    const big = { deviceMemoryGB: 64 };
    expect(kvChoice('auto', MINI_128K.kv, 4096, file(MINI_128K), big)).toBe('f16');
    expect(kvChoice('auto', MINI_128K.kv, 8192, file(MINI_128K), big)).toBe('q8_0');
    expect(kvChoice('auto', MINI_128K.kv, 4096, file(MINI_128K), {})).toBe('f16');
  });

  it('automatic: 8 bits at 4K when 16 bits would not fit the device and 8 bits fits better', () => {
    // a 6-bit Phi-3-mini (3.14 GB) on a device reporting 4 GB: 4.75 GB with a 16-bit cache, 4.00 GB with an 8-bit one
    expect(kvOption(3.14e9, MINI_128K.kv, 4096, 'f16', { deviceMemoryGB: 4 }).fit.verdict).toBe('may-not-fit');
    expect(kvOption(3.14e9, MINI_128K.kv, 4096, 'q8_0', { deviceMemoryGB: 4 }).fit.verdict).toBe('fits');
    expect(kvChoice('auto', MINI_128K.kv, 4096, 3.14e9, { deviceMemoryGB: 4 })).toBe('q8_0');
    // a layer's 16-bit K buffer (25.2 MB at 4K) above the GPU's largest buffer, the 8-bit one (13.4 MB) below it
    expect(kvChoice('auto', MINI_128K.kv, 4096, file(MINI_128K), { maxBufferBytes: 20e6 })).toBe('q8_0');
    // Phi-3-medium on 8 GB: neither fits the reported RAM, so 8 bits gains nothing worth its rounding
    const medium = byName('Phi-3 medium 4k instruct');
    expect(kvOption(file(medium), medium.kv, 4096, 'q8_0', { deviceMemoryGB: 8 }).fit.verdict).toBe('may-not-fit');
    expect(kvChoice('auto', medium.kv, 4096, file(medium), { deviceMemoryGB: 8 })).toBe('f16');
  });

  it('the setting overrides the automatic choice either way; a head size q8_0 blocks would straddle, or an unknown shape, keeps 16 bits', () => {
    expect(kvChoice('f16', MINI_128K.kv, 32768, file(MINI_128K), { deviceMemoryGB: 4 })).toBe('f16');
    expect(kvChoice('q8_0', MINI_128K.kv, 1024, file(MINI_128K), { deviceMemoryGB: 64 })).toBe('q8_0');
    const head80 = { nLayers: 32, nKvHeads: 32, headDim: 80 };
    expect(kvChoice('q8_0', head80, 1024, 1e9, {})).toBe('f16');
    expect(kvChoice('auto', head80, 32768, 1e9, {})).toBe('f16');
    expect(kvChoice('auto', undefined, 32768, 1e9, {})).toBe('f16');
  });
});

describe('the choices offered per model and device', () => {
  const verdicts = (o: ReturnType<typeof contextOptions>) => o.map((c) => `${c.contextLength / 1024}K ${c.kvType} ${c.fit.verdict}`);

  it('Phi-4-mini on a device reporting 8 GB: 64K fits with an 8-bit cache, not with a 16-bit one; 128K fits with neither', () => {
    const budget = { deviceMemoryGB: 8 };
    expect(verdicts(contextOptions(file(PHI4_MINI), PHI4_MINI.kv, 131072, 'f16', budget))).toEqual([
      '1K f16 fits', '2K f16 fits', '4K f16 fits', '8K f16 fits', '16K f16 fits', '32K f16 fits', '64K f16 may-not-fit', '128K f16 may-not-fit',
    ]);
    expect(verdicts(contextOptions(file(PHI4_MINI), PHI4_MINI.kv, 131072, 'q8_0', budget))).toEqual([
      '1K q8_0 fits', '2K q8_0 fits', '4K q8_0 fits', '8K q8_0 fits', '16K q8_0 fits', '32K q8_0 fits', '64K q8_0 fits', '128K q8_0 may-not-fit',
    ]);
    // Automatic: 16 bits up to 4K, 8 bits above, so 64K is offered as fitting
    expect(verdicts(contextOptions(file(PHI4_MINI), PHI4_MINI.kv, 131072, 'auto', budget))).toEqual([
      '1K f16 fits', '2K f16 fits', '4K f16 fits', '8K q8_0 fits', '16K q8_0 fits', '32K q8_0 fits', '64K q8_0 fits', '128K q8_0 may-not-fit',
    ]);
    // the memory shown with each: weights plus 64K positions of 32 x 2 x 8 x 4 blocks of 34 bytes
    const at64K = contextOptions(file(PHI4_MINI), PHI4_MINI.kv, 131072, 'auto', budget)[6];
    expect(at64K.gpuBytes).toBe(2_490_000_000 + 65536 * 32 * 2 * 8 * 4 * 34);
  });

  it("Phi-3-mini-128k on a GPU with WebGPU's default 128 MiB buffers: 32K is refused in 16 bits (201 MB a layer) and fits in 8 bits (107 MB)", () => {
    const budget = { maxBufferBytes: DEFAULT_BINDING };
    const f16 = contextOptions(file(MINI_128K), MINI_128K.kv, 131072, 'f16', budget);
    const auto = contextOptions(file(MINI_128K), MINI_128K.kv, 131072, 'auto', budget);
    expect(verdicts(f16).slice(4)).toEqual(['16K f16 fits', '32K f16 will-not-fit', '64K f16 will-not-fit', '128K f16 will-not-fit']);
    expect(verdicts(auto).slice(4)).toEqual(['16K q8_0 fits', '32K q8_0 fits', '64K q8_0 will-not-fit', '128K q8_0 will-not-fit']);
    expect(f16[5].fit.reasons[0]).toMatch(/^needs buffers of 201 MB to remember a 32768-token context; this GPU allows at most 134 MB per buffer/);
  });
});

/**
 * The longest context each 128K model holds in 4, 8 and 16 GiB of GPU memory, computed from the
 * catalog's file sizes and KV shapes. Counted beside the weights (about the file size; the
 * header and vocabulary in the file make that a slight over-estimate) and the KV cache: the
 * activation buffers of a 128-token prefill step and the logits (src/engine/state.ts), from the
 * model cards' widths below. Not counted: uniforms, the sampler's and attention's scratch (KBs),
 * and whatever the browser and the rest of the system hold on the same GPU.
 */
describe('the longest context that fits, per 128K model', () => {
  const CHUNK = 128;
  const WIDTHS: Record<string, { dim: number; ffnDim: number; vocab: number }> = {
    'Phi-3 mini 128k instruct': { dim: 3072, ffnDim: 8192, vocab: 32064 },
    'Phi-3.5 mini instruct': { dim: 3072, ffnDim: 8192, vocab: 32064 },
    'Phi-4 mini instruct': { dim: 3072, ffnDim: 8192, vocab: 200064 },
    'Phi-3 medium 128k instruct': { dim: 5120, ffnDim: 17920, vocab: 32064 },
  };
  /** state.ts's f32 buffers: x, xb, q, att [M, dim]; qkv [M, dim + 2 kvDim]; gu [M, 2 ffn]; h [M, ffn]; logits [vocab]. */
  const activationBytes = (w: { dim: number; ffnDim: number; vocab: number }, kv: KvShape) =>
    4 * (CHUNK * (4 * w.dim + w.dim + 2 * kv.nKvHeads * kv.headDim + 3 * w.ffnDim) + w.vocab);

  const rows = MODEL_REGISTRY.filter((e) => (e.contextLength ?? 0) > 4096).map((e) => {
    const kv = e.kv!;
    const other = activationBytes(WIDTHS[e.displayName], kv);
    const cell = (gib: number, t: 'f16' | 'q8_0') => {
      const n = Math.min(largestContext(file(e), kv, t, gib * GiB, other), e.contextLength!);
      const offered = contextChoices(e.contextLength).filter((c) => c <= n).pop();
      return n === 0 ? 'does not fit' : `${n} (${offered ? `${offered / 1024}K` : 'none'})`;
    };
    return { model: e.displayName, other, cells: [cell(4, 'f16'), cell(4, 'q8_0'), cell(8, 'f16'), cell(8, 'q8_0'), cell(16, 'f16'), cell(16, 'q8_0')] };
  });

  it('is every 128K model of the catalog, each holding more positions with an 8-bit cache', () => {
    expect(rows.map((r) => r.model)).toEqual(Object.keys(WIDTHS));
    for (const r of rows) {
      // activations and logits: tens of MB, next to GBs of weights
      expect(r.other).toBeGreaterThan(10e6);
      expect(r.other).toBeLessThan(60e6);
    }
  });

  it('as a table (positions, and the longest offered choice within them)', () => {
    const table = [
      '| model | 4 GiB, f16 | 4 GiB, q8_0 | 8 GiB, f16 | 8 GiB, q8_0 | 16 GiB, f16 | 16 GiB, q8_0 |',
      '|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.model} | ${r.cells.join(' | ')} |`),
    ].join('\n');
    expect(table).toMatchInlineSnapshot(`
      "| model | 4 GiB, f16 | 4 GiB, q8_0 | 8 GiB, f16 | 8 GiB, q8_0 | 16 GiB, f16 | 16 GiB, q8_0 |
      |---|---|---|---|---|---|---|
      | Phi-3 mini 128k instruct | 4784 (4K) | 8832 (8K) | 15706 (8K) | 28997 (16K) | 37552 (32K) | 69327 (64K) |
      | Phi-3.5 mini instruct | 4784 (4K) | 8832 (8K) | 15706 (8K) | 28997 (16K) | 37552 (32K) | 69327 (64K) |
      | Phi-4 mini instruct | 13600 (8K) | 25601 (16K) | 46368 (32K) | 87282 (64K) | 111904 (64K) | 131072 (128K) |
      | Phi-3 medium 128k instruct | does not fit | does not fit | does not fit | does not fit | 41883 (32K) | 78840 (64K) |"
    `);
  });
});

describe('the remembered KV cache precision', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('is automatic until one is chosen, then the choice; a value that is not one reads as automatic', () => {
    const items = new Map<string, string>();
    vi.stubGlobal('localStorage', { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) });
    expect(rememberedKvPreference()).toBe('auto');
    rememberKvPreference('q8_0');
    expect(rememberedKvPreference()).toBe('q8_0');
    rememberKvPreference('f16');
    expect(rememberedKvPreference()).toBe('f16');
    items.set('phi3.kvPrecision', 'q4_0');
    expect(rememberedKvPreference()).toBe('auto');
  });

  it('is automatic where storage throws (private mode)', () => {
    vi.stubGlobal('localStorage', {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
    });
    expect(() => rememberKvPreference('f16')).not.toThrow();
    expect(rememberedKvPreference()).toBe('auto');
  });
});
