/**
 * The float64 Phi-3-small reference against things computed another way: safetensors files
 * written byte by byte here, vLLM's block mask built the way vLLM builds it, the KV-cache path
 * against the whole-sequence path, and small cases worked out by hand.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applyRope,
  bf16ToF32,
  dummyTokenIds,
  gegelu,
  greedy,
  headSlidingStep,
  isDenseLayer,
  layerNorm,
  loadCheckpoint,
  parseConfig,
  parseSafetensors,
  readCheckpointTensors,
  ropeTable,
  sparseSees,
  type RefModel,
  type SparsePattern,
  type Trace,
} from './phi3small-ref.ts';
import { makeHfCheckpoint } from './make-hf-checkpoint.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'phi3small-ref-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// a safetensors writer of its own (the parser under test must read what this writes)
// ---------------------------------------------------------------------------------------------

/** f32 -> bf16 bits, round to nearest even (the values written below are bf16-exact anyway). */
function bf16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
function bf16Round(x: number): number {
  return new Float32Array(new Uint32Array([bf16Bits(x) << 16]).buffer)[0];
}

interface TensorSpec {
  shape: number[];
  data: ArrayLike<number>;
  dtype?: 'BF16' | 'F32';
}

function safetensorsBytes(tensors: Record<string, TensorSpec>, headerPad = 0, metadata = true): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: { format: 'pt' } } : {};
  let off = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.dtype ?? 'BF16';
    const n = t.data.length;
    const bytes = new Uint8Array(n * (dtype === 'BF16' ? 2 : 4));
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) {
      if (dtype === 'BF16') dv.setUint16(2 * i, bf16Bits(t.data[i]), true);
      else dv.setFloat32(4 * i, t.data[i], true);
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + bytes.length] };
    off += bytes.length;
    parts.push(bytes);
  }
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(headerPad));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/** Small deterministic generator (mulberry32) for test weights. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface TinyOpts {
  hidden: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  layers: number;
  denseEvery: number;
  blockSize: number;
  localBlocks: number;
  vertStride: number;
  homoHead: boolean;
  maxPositions: number;
  ropeScaling?: Record<string, unknown> | null;
  gegeluLimit?: number;
}

function configJson(o: TinyOpts): Record<string, unknown> {
  return {
    model_type: 'phi3small',
    hidden_size: o.hidden,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads,
    ff_intermediate_size: o.ffn,
    vocab_size: o.vocab,
    max_position_embeddings: o.maxPositions,
    layer_norm_epsilon: 1e-5,
    rope_embedding_base: 1000000,
    rope_position_scale: 1.0,
    rope_scaling: o.ropeScaling ?? null,
    mup_embedding_multiplier: 10.0,
    mup_attn_multiplier: 1.0,
    mup_width_multiplier: 8.0,
    mup_use_scaling: true,
    gegelu_limit: o.gegeluLimit ?? 20.0,
    hidden_act: 'gegelu',
    dense_attention_every_n_layers: o.denseEvery,
    blocksparse_block_size: o.blockSize,
    blocksparse_num_local_blocks: o.localBlocks,
    blocksparse_vert_stride: o.vertStride,
    blocksparse_homo_head_pattern: o.homoHead,
    tie_word_embeddings: true,
  };
}

/** Every tensor of the published layout, random bf16-exact values (LayerNorm weights near 1). */
function randomTensors(o: TinyOpts, seed: number): Record<string, TensorSpec> {
  const r = rng(seed);
  const headDim = o.hidden / o.heads;
  const t: Record<string, TensorSpec> = {};
  const mk = (shape: number[], scale: number, base = 0): TensorSpec => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = bf16Round(base + (r() * 2 - 1) * scale);
    return { shape, data };
  };
  const qkv = (o.heads + 2 * o.kvHeads) * headDim;
  t['model.embed_tokens.weight'] = mk([o.vocab, o.hidden], 0.1);
  for (let L = 0; L < o.layers; L++) {
    const p = `model.layers.${L}.`;
    t[p + 'input_layernorm.weight'] = mk([o.hidden], 0.2, 1);
    t[p + 'input_layernorm.bias'] = mk([o.hidden], 0.1);
    t[p + 'self_attn.query_key_value.weight'] = mk([qkv, o.hidden], 0.6);
    t[p + 'self_attn.query_key_value.bias'] = mk([qkv], 0.2);
    t[p + 'self_attn.dense.weight'] = mk([o.hidden, o.hidden], 0.3);
    t[p + 'self_attn.dense.bias'] = mk([o.hidden], 0.1);
    t[p + 'post_attention_layernorm.weight'] = mk([o.hidden], 0.2, 1);
    t[p + 'post_attention_layernorm.bias'] = mk([o.hidden], 0.1);
    t[p + 'mlp.up_proj.weight'] = mk([2 * o.ffn, o.hidden], 0.5);
    t[p + 'mlp.up_proj.bias'] = mk([2 * o.ffn], 0.2);
    t[p + 'mlp.down_proj.weight'] = mk([o.hidden, o.ffn], 0.3);
    t[p + 'mlp.down_proj.bias'] = mk([o.hidden], 0.1);
  }
  t['model.final_layernorm.weight'] = mk([o.hidden], 0.2, 1);
  t['model.final_layernorm.bias'] = mk([o.hidden], 0.1);
  return t;
}

/** A checkpoint folder as published: config.json and model.safetensors, or `shards` files plus the index. */
function writeCheckpoint(o: TinyOpts, tensors: Record<string, TensorSpec>, shards = 1): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configJson(o)));
  if (shards === 1) {
    writeFileSync(join(dir, 'model.safetensors'), safetensorsBytes(tensors));
    return dir;
  }
  const names = Object.keys(tensors);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part: Record<string, TensorSpec> = {};
    names.forEach((n, i) => {
      if (i % shards === s) {
        part[n] = tensors[n];
        weightMap[n] = file;
      }
    });
    writeFileSync(join(dir, file), safetensorsBytes(part));
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return dir;
}

const BASE: TinyOpts = {
  hidden: 16,
  heads: 4,
  kvHeads: 2,
  ffn: 12,
  vocab: 50,
  layers: 3,
  denseEvery: 3,
  blockSize: 2,
  localBlocks: 2,
  vertStride: 3,
  homoHead: false,
  maxPositions: 64,
};

// ---------------------------------------------------------------------------------------------
// (a) safetensors
// ---------------------------------------------------------------------------------------------

describe('safetensors, read by hand', () => {
  it('bf16 is the top half of an f32', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc000)).toBe(-2);
    expect(bf16ToF32(0x3fc0)).toBe(1.5);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133); // smallest bf16 subnormal
    expect(Object.is(bf16ToF32(0x8000), -0)).toBe(true);
  });

  it('reads bf16 and f32 tensors at their offsets, past a padded header and __metadata__', () => {
    const a = [1, -2, 1.5, -0.0078125, 3.140625, 65280];
    const b = [0.1, -1e-30, 7];
    const bytes = safetensorsBytes({ a: { shape: [2, 3], data: a }, b: { shape: [3], data: b, dtype: 'F32' }, c: { shape: [1, 1], data: [-0.5] } }, 5);
    const t = parseSafetensors(bytes);
    expect([...t.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(t.get('a')!.shape).toEqual([2, 3]);
    expect(t.get('a')!.dtype).toBe('BF16');
    expect([...t.get('a')!.data]).toEqual(a);
    expect([...t.get('b')!.data]).toEqual([...new Float32Array(b)]);
    expect([...t.get('c')!.data]).toEqual([-0.5]);
  });

  it('reads a tensor at an odd offset (no alignment assumed)', () => {
    // A 1-element bf16 first puts the next tensor's data at byte 2 of the data section, and a
    // 3-space pad makes the data section itself start at an odd file offset.
    const bytes = safetensorsBytes({ x: { shape: [1], data: [2] }, y: { shape: [2], data: [0.25, -4], dtype: 'F32' } }, 3, false);
    const t = parseSafetensors(bytes);
    expect([...t.get('y')!.data]).toEqual([0.25, -4]);
  });

  it('reads f16 by its bits: normal, subnormal, infinite', () => {
    const bits = [0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555, 0x8400];
    const header = new TextEncoder().encode(JSON.stringify({ h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] } }));
    const bytes = new Uint8Array(8 + header.length + 12);
    const dv = new DataView(bytes.buffer);
    dv.setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    bits.forEach((b, i) => dv.setUint16(8 + header.length + 2 * i, b, true));
    expect([...parseSafetensors(bytes).get('h')!.data]).toEqual([1, -2, 2 ** -24, Infinity, 0.333251953125, -(2 ** -14)]);
  });

  it('refuses a header whose byte span disagrees with the shape, or runs out of the file', () => {
    const good = safetensorsBytes({ a: { shape: [2], data: [1, 2] } }, 0, false);
    const text = new TextDecoder().decode(good.subarray(8, 8 + Number(new DataView(good.buffer).getBigUint64(0, true))));
    const bad = new Uint8Array(good);
    bad.set(new TextEncoder().encode(text.replace('[2]', '[3]')), 8);
    expect(() => parseSafetensors(bad)).toThrow(/spans 4 bytes/);
    expect(() => parseSafetensors(good.subarray(0, good.length - 1))).toThrow(/outside the data/);
    const long = new Uint8Array(good);
    new DataView(long.buffer).setBigUint64(0, 1000n, true);
    expect(() => parseSafetensors(long)).toThrow(/past the end/);
  });

  it('reads shards through model.safetensors.index.json, and the same values as one file', async () => {
    const tensors = randomTensors(BASE, 1);
    const one = await readCheckpointTensors(writeCheckpoint(BASE, tensors, 1));
    const three = await readCheckpointTensors(writeCheckpoint(BASE, tensors, 3));
    expect([...three.keys()].sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(three.get(name)!.shape).toEqual(t.shape);
      expect(three.get(name)!.data).toEqual(one.get(name)!.data);
      expect([...three.get(name)!.data]).toEqual(Array.from(t.data));
    }
  });

  it('refuses an index that names the wrong shard, and a checkpoint above the size limit', async () => {
    const dir = writeCheckpoint(BASE, randomTensors(BASE, 1), 2);
    const idx = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'model.safetensors.index.json'), 'utf8'))) as {
      weight_map: Record<string, string>;
    };
    const first = Object.keys(idx.weight_map)[0];
    const other = Object.values(idx.weight_map).find((f) => f !== idx.weight_map[first])!;
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...idx.weight_map, [first]: other } }));
    await expect(readCheckpointTensors(dir)).rejects.toThrow(/index says/);
    await expect(loadCheckpoint(writeCheckpoint(BASE, randomTensors(BASE, 1)), 1000)).rejects.toThrow(/tiny checkpoints only/);
  });
});

describe('a full-size checkpoint', () => {
  it('is refused from its headers alone, before any data is read', async () => {
    // A sparse file: the header claims the 8k model's embedding ([100352, 4096] bf16, 411M
    // parameters) and the file is extended to the size that needs without writing the data.
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), JSON.stringify(configJson(BASE)));
    const bytes = 100352 * 4096 * 2;
    const header = new TextEncoder().encode(JSON.stringify({ 'model.embed_tokens.weight': { dtype: 'BF16', shape: [100352, 4096], data_offsets: [0, bytes] } }));
    const head = new Uint8Array(8 + header.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(header.length), true);
    head.set(header, 8);
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, head);
    truncateSync(file, head.length + bytes);
    const t0 = performance.now();
    await expect(loadCheckpoint(dir)).rejects.toThrow(/411041792 parameters; the float64 reference reads tiny checkpoints only/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('config.json', () => {
  it('reads the keys and refuses what it cannot run, by name', () => {
    const c = parseConfig(configJson(BASE));
    expect(c.headDim).toBe(4);
    expect(c.ffn).toBe(12);
    expect(() => parseConfig({ ...configJson(BASE), model_type: 'phi3' })).toThrow(/model_type/);
    const { gegelu_limit: _, ...noLimit } = configJson(BASE);
    expect(() => parseConfig(noLimit)).toThrow(/missing gegelu_limit/);
    expect(() => parseConfig({ ...configJson(BASE), mup_use_scaling: false })).toThrow(/mup_use_scaling/);
    expect(() => parseConfig({ ...configJson(BASE), rope_position_scale: 2 })).toThrow(/rope_position_scale/);
    expect(() => parseConfig({ ...configJson(BASE), rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1, 1], short_mscale: 1, long_mscale: 1, original_max_position_embeddings: 8 } })).toThrow(
      /short_factor/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// (b) the block-sparse pattern against vLLM's construction
// ---------------------------------------------------------------------------------------------

/**
 * vLLM's get_sparse_attn_mask(return_dense=True), step by step as its tensors go: the
 * [heads, nBlocks, nBlocks] block mask (q_pos >= k_pos) & ((q_pos - k_pos < local) | vertical
 * column of the head), its last ceil(qLen/B) query blocks, the Kronecker product with a B x B
 * block of ones, the last qLen rows and first maxSeqlen columns, times the causal tril's last qLen rows.
 */
function vllmDenseMask(nHeads: number, qLen: number, maxSeqlen: number, B: number, local: number, vs: number, homo: boolean): number[][][] {
  const nb = Math.ceil(maxSeqlen / B);
  const step = homo ? 0 : Math.max(1, Math.trunc(vs / nHeads));
  const block: number[][][] = [];
  for (let h = 0; h < nHeads; h++) {
    const vert = Array.from({ length: nb }, (_, k) => (k + h * step + 1) % vs === 0);
    block.push(Array.from({ length: nb }, (_, q) => Array.from({ length: nb }, (_, k) => (q >= k && (q - k < local || vert[k]) ? 1 : 0))));
  }
  // kron with ones(B, B): element [h][q*B + a][k*B + b] = block[h][q][k]
  const kron = block.map((m) => Array.from({ length: nb * B }, (_, r) => Array.from({ length: nb * B }, (_, c) => m[Math.floor(r / B)][Math.floor(c / B)])));
  const causal = Array.from({ length: maxSeqlen }, (_, r) => Array.from({ length: maxSeqlen }, (_, c) => (c <= r ? 1 : 0))).slice(maxSeqlen - qLen);
  return kron.map((m) =>
    m
      .slice(m.length - qLen)
      .map((row) => row.slice(0, maxSeqlen))
      .map((row, r) => row.map((x, c) => x * causal[r][c])),
  );
}

describe('block-sparse pattern', () => {
  const cases: (SparsePattern & { T: number })[] = [
    { heads: 4, blockSize: 2, localBlocks: 2, vertStride: 3, homoHead: false, T: 23 },
    { heads: 2, blockSize: 3, localBlocks: 1, vertStride: 8, homoHead: false, T: 40 }, // step 4
    { heads: 32, blockSize: 4, localBlocks: 3, vertStride: 8, homoHead: false, T: 70 }, // published ratio: step 1, heads rotate
    { heads: 5, blockSize: 2, localBlocks: 2, vertStride: 4, homoHead: true, T: 29 },
    { heads: 3, blockSize: 4, localBlocks: 16, vertStride: 8, homoHead: false, T: 30 }, // all local: dense causal
    { heads: 3, blockSize: 1, localBlocks: 1, vertStride: 1, homoHead: false, T: 12 }, // stride 1: every column
  ];
  for (const c of cases) {
    it(`equals vLLM's dense mask: heads ${c.heads}, B ${c.blockSize}, local ${c.localBlocks}, stride ${c.vertStride}, homo ${c.homoHead}`, () => {
      // vLLM's dense expansion takes the last qLen rows of the block-padded matrix as the last qLen
      // positions, which holds when max_seqlen is a multiple of B (it is in vLLM); so max_seqlen is
      // T rounded up to whole blocks, and row r of a qLen-row mask is position maxSeqlen - qLen + r.
      const maxSeqlen = Math.ceil(c.T / c.blockSize) * c.blockSize;
      for (const qLen of [maxSeqlen, 1, Math.min(5, maxSeqlen)]) {
        const ref = vllmDenseMask(c.heads, qLen, maxSeqlen, c.blockSize, c.localBlocks, c.vertStride, c.homoHead);
        let seen = 0;
        let hidden = 0;
        for (let h = 0; h < c.heads; h++)
          for (let r = 0; r < qLen; r++)
            for (let j = 0; j < maxSeqlen; j++) {
              const i = maxSeqlen - qLen + r;
              const mine = sparseSees(c, h, i, j);
              if (mine !== (ref[h][r][j] === 1)) throw new Error(`qLen ${qLen} head ${h} query ${i} key ${j}: mine ${mine}, vLLM ${ref[h][r][j]}`);
              if (mine) seen++;
              else if (j <= i) hidden++;
            }
        expect(seen).toBeGreaterThan(0);
        // a pattern whose local window is shorter than the sequence and whose stride skips columns hides some causal keys
        if (qLen === maxSeqlen && c.localBlocks * c.blockSize < c.T && c.vertStride > 1) expect(hidden).toBeGreaterThan(0);
      }
    });
  }

  it('the published Phi-3-small shape: 32 heads, stride 8 -> step 1; homo -> 0; dense every 2nd layer', () => {
    expect(headSlidingStep({ heads: 32, blockSize: 64, localBlocks: 16, vertStride: 8, homoHead: false })).toBe(1);
    expect(headSlidingStep({ heads: 2, blockSize: 64, localBlocks: 16, vertStride: 8, homoHead: false })).toBe(4);
    expect(headSlidingStep({ heads: 32, blockSize: 64, localBlocks: 16, vertStride: 8, homoHead: true })).toBe(0);
    expect([0, 1, 2, 3].map((L) => isDenseLayer({ denseEvery: 2 }, L))).toEqual([false, true, false, true]);
    expect([0, 1, 2, 3].map((L) => isDenseLayer({ denseEvery: 0 }, L))).toEqual([false, false, false, false]);
    expect(parseConfig({ ...configJson(BASE), dense_attention_every_n_layers: null }).denseEvery).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// (c) KV cache against whole-sequence recompute
// ---------------------------------------------------------------------------------------------

function maxRelDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === -Infinity && b[i] === -Infinity) continue;
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return m / scale;
}

describe('incremental logits equal full recompute', () => {
  const variants: [string, TinyOpts][] = [
    ['sparse + dense layers', BASE],
    ['homo-head, 1 KV head', { ...BASE, kvHeads: 1, homoHead: true, denseEvery: 2 }],
    [
      'LongRoPE, long set',
      { ...BASE, ropeScaling: { type: 'su', short_factor: [1, 1.5], long_factor: [3, 7], short_mscale: 1, long_mscale: 1.19, original_max_position_embeddings: 16 } },
    ],
  ];
  for (const [name, o] of variants) {
    it(name, async () => {
      const model = await loadCheckpoint(writeCheckpoint(o, randomTensors(o, 7)));
      const r = rng(3);
      const ids = Array.from({ length: 22 }, () => Math.floor(r() * o.vocab));
      const s = model.session(32);
      for (let t = 0; t < ids.length; t++) {
        const inc = s.step(ids[t]);
        const full = model.logits(ids.slice(0, t + 1), 32);
        expect(maxRelDiff(inc, full)).toBeLessThan(1e-12);
      }
    });
  }

  it('the sparse pattern changes the logits (a dense-everywhere model differs)', async () => {
    const tensors = randomTensors(BASE, 7);
    const sparse = await loadCheckpoint(writeCheckpoint(BASE, tensors));
    const dense = await loadCheckpoint(writeCheckpoint({ ...BASE, denseEvery: 1 }, tensors));
    const ids = Array.from({ length: 20 }, (_, i) => (i * 7) % BASE.vocab);
    expect(maxRelDiff(sparse.logits(ids, 32), dense.logits(ids, 32))).toBeGreaterThan(1e-3);
    expect(maxRelDiff(sparse.logits(ids.slice(0, 4), 32), dense.logits(ids.slice(0, 4), 32))).toBeLessThan(1e-15); // within the local blocks
  });

  it('LongRoPE picks the set from the loaded context once: short and long contexts give different logits', async () => {
    const o = variants[2][1];
    const model = await loadCheckpoint(writeCheckpoint(o, randomTensors(o, 7)));
    const ids = [1, 2, 3, 4, 5];
    expect(maxRelDiff(model.logits(ids, 16), model.logits(ids, 17))).toBeGreaterThan(1e-6);
    expect(maxRelDiff(model.logits(ids, 8), model.logits(ids, 16))).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// (d) hand-computed cases
// ---------------------------------------------------------------------------------------------

const sig = (x: number): number => 1 / (1 + Math.exp(-x));

describe('pieces, by hand', () => {
  it('LayerNorm with bias: biased variance, then * w + b', () => {
    const out = new Float64Array(4);
    layerNorm([1, 2, 3, 4], [1, 2, 1, 1], [0, 0, 1, -1], 0, out);
    const r = 1 / Math.sqrt(1.25);
    expect(out[0]).toBeCloseTo(-1.5 * r, 14);
    expect(out[1]).toBeCloseTo(-1 * r, 14);
    expect(out[2]).toBeCloseTo(0.5 * r + 1, 14);
    expect(out[3]).toBeCloseTo(1.5 * r - 1, 14);
    layerNorm([5, 5], [1, 1], [0.25, 0], 1e-5, out);
    expect([out[0], out[1]]).toEqual([0.25, 0]);
  });

  it('GEGELU below, at and beyond the limits', () => {
    expect(gegelu(0, 5, 7)).toBe(0);
    expect(gegelu(1, 0, 7)).toBeCloseTo(sig(1.702), 15);
    expect(gegelu(2, 3, 7)).toBeCloseTo(2 * sig(3.404) * 4, 14);
    expect(gegelu(7, 7, 7)).toBeCloseTo(7 * sig(7 * 1.702) * 8, 12); // at the limit: unchanged
    expect(gegelu(10, 0, 7)).toBeCloseTo(7 * sig(7 * 1.702), 12); // gelu half capped above
    expect(gegelu(2, 9, 7)).toBeCloseTo(2 * sig(3.404) * 8, 14); // linear half capped above
    expect(gegelu(2, -9, 7)).toBeCloseTo(2 * sig(3.404) * -6, 14); // and below
    expect(gegelu(-10, 1, 7)).toBeCloseTo(-10 * sig(-17.02) * 2, 20); // gelu half not clamped below
    expect(gegelu(1, Infinity, 7)).toBe(Infinity); // infinities pass the clamp, as in Hugging Face
    expect(gegelu(Infinity, 0, 7)).toBe(Infinity);
  });

  it('RoPE turns pair (i, i + d/2) by pos * theta^(-2i/d)', () => {
    const t = ropeTable({ headDim: 4, ropeTheta: 10000, longRope: null }, 100);
    expect([...t.invFreq]).toEqual([1, 0.01]);
    const v = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0]);
    applyRope(v, 0, 4, 1, t);
    applyRope(v, 4, 4, 1, t);
    expect(v[0]).toBeCloseTo(Math.cos(1), 15);
    expect(v[2]).toBeCloseTo(Math.sin(1), 15);
    expect(v[5]).toBeCloseTo(Math.cos(0.01), 15);
    expect(v[7]).toBeCloseTo(Math.sin(0.01), 15);
    expect([v[1], v[3], v[4], v[6]]).toEqual([0, 0, 0, 0]);
    const w = new Float64Array([3, -1, 2, 5]);
    applyRope(w, 0, 4, 0, t);
    expect([...w]).toEqual([3, -1, 2, 5]); // position 0: identity
    const u = new Float64Array([0, 0, 0, 2]);
    applyRope(u, 0, 4, 3, t);
    expect(u[1]).toBeCloseTo(-2 * Math.sin(0.03), 15);
    expect(u[3]).toBeCloseTo(2 * Math.cos(0.03), 15);
  });

  it('LongRoPE: long factors and long_mscale only when the context exceeds the original', () => {
    const lr = { shortFactor: [1, 2], longFactor: [4, 8], shortMscale: 1.5, longMscale: 2, originalMax: 100 };
    const short = ropeTable({ headDim: 4, ropeTheta: 10000, longRope: lr }, 100);
    const long = ropeTable({ headDim: 4, ropeTheta: 10000, longRope: lr }, 101);
    expect([short.long, short.mscale, ...short.invFreq]).toEqual([false, 1.5, 1, 0.005]);
    expect([long.long, long.mscale, ...long.invFreq]).toEqual([true, 2, 0.25, 0.00125]);
    const v = new Float64Array([1, 0, 0, 0]);
    applyRope(v, 0, 4, 2, long);
    expect(v[0]).toBeCloseTo(2 * Math.cos(0.5), 15);
    expect(v[2]).toBeCloseTo(2 * Math.sin(0.5), 15);
  });

  it('the dummy ids: every dummy_id token, the three FIM tokens and <|endofprompt|>', () => {
    const ids = dummyTokenIds();
    expect(ids.length).toBe(1 + 3 + 2 + 9 + 1 + 75);
    for (const id of [100256, 100258, 100259, 100260, 100264, 100265, 100267, 100275, 100276, 100277, 100351]) expect(ids).toContain(id);
    for (const id of [100257, 100261, 100262, 100263, 100266, 100255, 100352]) expect(ids).not.toContain(id);
  });
});

/** A checkpoint whose every tensor is given (zeros where not named). */
function handTensors(o: TinyOpts, set: Record<string, number[]>): Record<string, TensorSpec> {
  const t = randomTensors(o, 1);
  for (const [name, spec] of Object.entries(t)) {
    const data = new Float32Array(spec.data.length);
    if (name in set) data.set(set[name]);
    else if (/layernorm\.weight$/.test(name)) data.fill(1);
    t[name] = { shape: spec.shape, data };
  }
  return t;
}

function lnPlain(x: number[], eps: number): number[] {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  const v = x.reduce((a, b) => a + (b - m) * (b - m), 0) / x.length;
  return x.map((e) => (e - m) / Math.sqrt(v + eps));
}

describe('a 1-layer model by hand', () => {
  // hidden 4, 2 query heads on 1 KV head of size 2; qkv rows: [q0 (2), q1 (2), k (2), v (2)].
  const o: TinyOpts = { ...BASE, hidden: 4, heads: 2, kvHeads: 1, ffn: 2, vocab: 6, layers: 1, denseEvery: 1, blockSize: 2, localBlocks: 1, vertStride: 2 };
  const emb = [0.5, -1, 2, 0.25, 1, 1, -0.5, 0, -2, 0.5, 0.5, 1, 0, 0, 1, -1, 3, -3, 0.75, 0.5, 1.5, 0.5, -1, 2];
  // v = [x0 (normalized), x1 (normalized)] + [0.5, -0.25]; q = k = 0 (uniform attention).
  const qkvw = new Array(8 * 4).fill(0);
  qkvw[6 * 4 + 0] = 1;
  qkvw[7 * 4 + 1] = 1;
  const qkvb = [0, 0, 0, 0, 0, 0, 0.5, -0.25];
  const identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
  const base = {
    'model.embed_tokens.weight': emb,
    'model.layers.0.self_attn.query_key_value.weight': qkvw,
    'model.layers.0.self_attn.query_key_value.bias': qkvb,
    'model.layers.0.self_attn.dense.weight': identity,
  };
  const x0 = (id: number): number[] => emb.slice(id * 4, id * 4 + 4).map((e) => e * 10);
  const vOf = (id: number): number[] => {
    const a = lnPlain(x0(id), 1e-5);
    return [a[0] + 0.5, a[1] - 0.25];
  };

  it('one token: the attention output is v, and the logits follow by hand', async () => {
    // up_proj bias [g0, l0, g1, l1] = [1, 2, -0.5, 30] with zero weight; down = identity on the first 2 rows.
    const model = await loadCheckpoint(
      writeCheckpoint(
        o,
        handTensors(o, {
          ...base,
          'model.layers.0.mlp.up_proj.bias': [1, 2, -0.5, 30],
          'model.layers.0.mlp.down_proj.weight': [1, 0, 0, 1, 0, 0, 0, 0],
          'model.layers.0.mlp.down_proj.bias': [0, 0, 0, 0.5],
        }),
      ),
    );
    const trace: Trace = {};
    const logits = model.logits([3], 8, trace);
    const v = vOf(3);
    expect([...trace.attention![0]].map((e) => +e.toFixed(12))).toEqual([...v, ...v].map((e) => +e.toFixed(12)));
    const y0 = 1 * sig(1.702) * 3;
    const y1 = -0.5 * sig(-0.851) * 21; // l = 30 clamped to the limit 20
    const x = x0(3).map((e, i) => e + [...v, ...v][i] + [y0, y1, 0, 0.5][i]);
    const h = lnPlain(x, 1e-5);
    for (let id = 0; id < 6; id++) {
      const want = emb.slice(id * 4, id * 4 + 4).reduce((a, e, i) => a + e * h[i], 0) / 8;
      expect(logits[id]).toBeCloseTo(want, 12);
    }
  });

  it('q = 0: each head averages v over the keys its sparse pattern shows it', async () => {
    // B 2, local 1, stride 2, 2 heads -> step 1. Query 6 (block 3): head 0 sees its own block and
    // the odd blocks (keys 2, 3, 6); head 1 its own block and the even blocks (keys 0, 1, 4, 5, 6).
    const sparse: TinyOpts = { ...o, denseEvery: 2 };
    const model = await loadCheckpoint(writeCheckpoint(sparse, handTensors(sparse, base)));
    const ids = [0, 1, 2, 3, 4, 5, 1];
    const trace: Trace = {};
    model.logits(ids, 16, trace);
    const att = trace.attention![0].subarray(6 * 4, 7 * 4);
    const mean = (keys: number[]): number[] => [0, 1].map((d) => keys.reduce((a, j) => a + vOf(ids[j])[d], 0) / keys.length);
    const want = [...mean([2, 3, 6]), ...mean([0, 1, 4, 5, 6])];
    for (let i = 0; i < 4; i++) expect(att[i]).toBeCloseTo(want[i], 12);
    // the dense layer of the same weights averages over all 7 keys on both heads
    const dense = await loadCheckpoint(writeCheckpoint(o, handTensors(o, base)));
    const tr2: Trace = {};
    dense.logits(ids, 16, tr2);
    const all = mean([0, 1, 2, 3, 4, 5, 6]);
    const att2 = tr2.attention![0].subarray(6 * 4, 7 * 4);
    for (let i = 0; i < 4; i++) expect(att2[i]).toBeCloseTo(all[i % 2], 12);
  });

  it('scores are q.k * mup_attn_multiplier / headDim, softmax over the causal keys', async () => {
    // q of head 0 = [c, 0] with c = 1 (bias), k = normalized x[0..1]; two tokens, head 0 at position 1.
    const qb = [1, 0, 0, 0, 0, 0, 0.5, -0.25];
    const model = await loadCheckpoint(
      writeCheckpoint(o, handTensors(o, { ...base, 'model.layers.0.self_attn.query_key_value.bias': qb, 'model.layers.0.self_attn.query_key_value.weight': kqv() })),
    );
    function kqv(): number[] {
      const w = [...qkvw];
      w[4 * 4 + 0] = 1; // k[0] = a[0]
      w[5 * 4 + 1] = 1; // k[1] = a[1]
      return w;
    }
    const ids = [2, 5];
    const trace: Trace = {};
    model.logits(ids, 8, trace);
    // RoPE at position p with theta 1e6, d 2... headDim 2: one pair (0, 1) at frequency 1.
    const rot = (v: number[], p: number): number[] => [v[0] * Math.cos(p) - v[1] * Math.sin(p), v[1] * Math.cos(p) + v[0] * Math.sin(p)];
    const q = rot([1, 0], 1);
    const ks = ids.map((id, p) => rot(lnPlain(x0(id), 1e-5).slice(0, 2), p));
    const s = ks.map((k) => (q[0] * k[0] + q[1] * k[1]) * (1 / 2));
    const w = s.map((e) => Math.exp(e));
    const z = w[0] + w[1];
    const want = [0, 1].map((d) => (w[0] * vOf(ids[0])[d] + w[1] * vOf(ids[1])[d]) / z);
    const att = trace.attention![0].subarray(4, 8);
    expect(att[0]).toBeCloseTo(want[0], 12);
    expect(att[1]).toBeCloseTo(want[1], 12);
  });

  it('masks the dummy ids to -inf at the full vocabulary', async () => {
    const big: TinyOpts = { ...o, vocab: 100352 };
    const model = await loadCheckpoint(writeCheckpoint(big, randomTensors(big, 5)));
    const l = model.logits([100257, 17], 4);
    for (const id of dummyTokenIds()) expect(l[id]).toBe(-Infinity);
    for (const id of [0, 100255, 100257, 100261, 100262, 100263, 100266]) expect(Number.isFinite(l[id])).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// (e) the fused rows as the checkpoint lays them out
// ---------------------------------------------------------------------------------------------

describe('fused qkv per KV group, interleaved up_proj', () => {
  // 4 query heads on 2 KV heads of size 4: rows per group g: [q(2g), q(2g+1), k_g, v_g] x 4.
  const o: TinyOpts = { ...BASE, layers: 1, denseEvery: 1 };
  const headDim = 4;
  const rowOf = (g: number, slot: number): number => (g * 4 + slot) * headDim;

  async function attentionWith(edit: (w: Float32Array) => void): Promise<Float64Array> {
    const t = randomTensors(o, 11);
    const w = new Float32Array(t['model.layers.0.self_attn.query_key_value.weight'].data);
    edit(w);
    t['model.layers.0.self_attn.query_key_value.weight'] = { shape: t['model.layers.0.self_attn.query_key_value.weight'].shape, data: w };
    const model = await loadCheckpoint(writeCheckpoint(o, t));
    const trace: Trace = {};
    model.logits([3, 9, 27, 4], 8, trace);
    return trace.attention![0].subarray(3 * o.hidden, 4 * o.hidden);
  }
  const changedHeads = (a: Float64Array, b: Float64Array): number[] =>
    [0, 1, 2, 3].filter((h) => {
      for (let i = 0; i < headDim; i++) if (Math.abs(a[h * headDim + i] - b[h * headDim + i]) > 1e-12) return true;
      return false;
    });
  const scaleRows = (r0: number, n: number) => (w: Float32Array) => {
    for (let i = r0 * o.hidden; i < (r0 + n) * o.hidden; i++) w[i] = -w[i] * 2;
  };

  it('changing only group 1 k rows changes only heads 2 and 3', async () => {
    const base = await attentionWith(() => {});
    expect(changedHeads(base, await attentionWith(scaleRows(rowOf(1, 2), headDim)))).toEqual([2, 3]);
  });
  it('changing only group 0 v rows changes only heads 0 and 1', async () => {
    const base = await attentionWith(() => {});
    expect(changedHeads(base, await attentionWith(scaleRows(rowOf(0, 3), headDim)))).toEqual([0, 1]);
  });
  it('changing only the second q block of group 1 changes only head 3', async () => {
    const base = await attentionWith(() => {});
    expect(changedHeads(base, await attentionWith(scaleRows(rowOf(1, 1), headDim)))).toEqual([3]);
  });

  it('up_proj rows 2i feed the gelu half and rows 2i+1 the linear half', async () => {
    const model: RefModel = await loadCheckpoint(writeCheckpoint(o, randomTensors(o, 2)));
    const lw = model.layers[0];
    const a = new Float64Array(o.hidden).map((_, i) => Math.sin(i + 1));
    const x = new Float64Array(o.hidden);
    model.mlpAdd(lw, a, x, 0, { u: new Float64Array(2 * o.ffn), y: new Float64Array(o.ffn) });
    const u = Array.from({ length: 2 * o.ffn }, (_, r) => lw.upb[r] + a.reduce((s, e, i) => s + lw.upw[r * o.hidden + i] * e, 0));
    const y = Array.from({ length: o.ffn }, (_, i) => {
      const g = Math.min(u[2 * i], 20);
      const l = Math.max(-20, Math.min(20, u[2 * i + 1]));
      return g * sig(1.702 * g) * (l + 1);
    });
    for (let r = 0; r < o.hidden; r++) expect(x[r]).toBeCloseTo(lw.downb[r] + y.reduce((s, e, i) => s + lw.downw[r * o.ffn + i] * e, 0), 12);
  });
});

describe('greedy', () => {
  it('follows the argmax of the logits, with margins top1 - top2, through the cache', async () => {
    const model = await loadCheckpoint(writeCheckpoint(BASE, randomTensors(BASE, 7)));
    const prompt = [4, 8, 15, 16, 23, 42];
    const g = greedy(model, prompt, 5, 32, true);
    const ids = [...prompt];
    for (let n = 0; n < 5; n++) {
      const l = model.logits(ids, 32);
      const sorted = [...l].sort((a, b) => b - a);
      expect(g.tokens[n]).toBe(l.indexOf(sorted[0]));
      expect(g.margins[n]).toBeCloseTo(sorted[0] - sorted[1], 12);
      ids.push(g.tokens[n]);
    }
    expect(() => greedy(model, prompt, 40, 32)).toThrow(/do not fit/);
  });

  it('the CLI prints the same tokens and margins as JSON', async () => {
    const dir = writeCheckpoint(BASE, randomTensors(BASE, 7));
    const root = join(new URL(import.meta.url).pathname, '..', '..');
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/phi3small-ref.ts'), '--hf', dir, '--ids', '4,8,15,16,23,42', '--n', '5', '--context', '32'], {
      cwd: root,
      encoding: 'utf8',
    });
    const got = JSON.parse(out) as { tokens: number[]; margins: number[]; context: number };
    const want = greedy(await loadCheckpoint(dir), [4, 8, 15, 16, 23, 42], 5, 32);
    expect(got.tokens).toEqual(want.tokens);
    expect(got.margins).toEqual(want.margins);
    expect(got.context).toBe(32);
  }, 30000);
});

describe('the generated tiny checkpoints (hidden 128, 4 layers, vocabulary 100352)', () => {
  const r = rng(9);
  const prompt = Array.from({ length: 300 }, () => Math.floor(r() * 100256));
  // [name, preset, shards, context, prompt length]: the short LongRoPE set needs the whole context
  // within original_max_position_embeddings (256), so that run has a 240-token prompt.
  const cases: [string, 'tiny' | 'tiny-128k', number, number, number][] = [
    ['tiny, one file', 'tiny', 1, 2048, 300],
    ['tiny-128k in 2 shards, long factors (context 2048 > 256)', 'tiny-128k', 2, 2048, 300],
    ['tiny-128k, short factors (context 256)', 'tiny-128k', 1, 256, 240],
  ];
  for (const [name, preset, shards, context, n] of cases) {
    it(`${name}: a ${n}-token prompt and 8 greedy tokens in seconds, the cache agreeing with a full recompute`, async () => {
      const dir = tempDir();
      await makeHfCheckpoint(dir, { preset, shards, seed: 3 });
      const t0 = performance.now();
      const model = await loadCheckpoint(dir);
      const t1 = performance.now();
      const p = prompt.slice(0, n);
      const g = greedy(model, p, 8, context, true);
      const t2 = performance.now();
      console.log(
        `${name}: load ${(t1 - t0).toFixed(0)} ms, ${n} + 8 tokens ${(t2 - t1).toFixed(0)} ms; tokens ${g.tokens.join(',')}; margins ${g.margins.map((m) => m.toFixed(4)).join(', ')}`,
      );
      if (preset === 'tiny-128k' && context <= 256) {
        // the same prompt under the long set (context 2048) is a different computation
        const long = greedy(model, p, 1, 2048);
        expect(Math.abs(long.margins[0] - g.margins[0])).toBeGreaterThan(1e-6);
      }
      expect(t2 - t1).toBeLessThan(20000);
      const masked = new Set(dummyTokenIds());
      for (const t of g.tokens) expect(masked.has(t)).toBe(false);
      // the last step through the cache equals the whole sequence recomputed
      const full = model.logits([...p, ...g.tokens.slice(0, 7)], context);
      expect(maxRelDiff(g.logits![7], full)).toBeLessThan(1e-12);
      expect(g.margins.every((m) => m >= 0 && Number.isFinite(m))).toBe(true);
    }, 60000);
  }
});
