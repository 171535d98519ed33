/**
 * The Phi-3-small converter on generated checkpoints (scripts/make-hf-checkpoint.ts): tiny and
 * tiny-128k, one file and three shards, f16, bf16, q8_0 and q4_k_m, read back with our GGUF
 * reader. Every key and value, the tensor list and dims, bf16 bit-equal to the checkpoint after
 * the row permutations, f16 the round-to-nearest of the bf16 values, q8_0 within its block bound,
 * the tokenizer equal to tiktoken; and every refusal, with no output file left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100kBase from 'js-tiktoken/ranks/cl100k_base';
import { createTokenizer } from '../src/model/create-tokenizer.ts';
import { GGMLType, type GGUFFile } from '../src/model/gguf-types.ts';
import {
  parsePhi3SmallConfig, planTensors, qkvRuns, runsToRows, upRuns, type ConvertType,
} from '../src/model/phi3small-convert.ts';
import { dequantize, f32ToF16, quantize } from '../src/model/quant/index.ts';
import { bf16ToF32, readSafetensorsHeader, readSafetensorsRows } from '../src/model/safetensors.ts';
import { fileSource, readGGUFFile } from '../src/model/source-node.ts';
import { PHI3_SMALL_CHAT_TEMPLATE, makeHfCheckpoint, type HfPresetName } from './make-hf-checkpoint.ts';
import { convertCheckpoint } from './convert.ts';
import { vocabFromMetadata } from '../src/model/vocab.ts';
import { phi3SmallDummyIds, phi3SmallSpecials } from '../src/model/tiktoken-vocab.ts';

let root = '';
const ckpt: Record<string, string> = {};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'convert-'));
  for (const preset of ['tiny', 'tiny-128k'] as HfPresetName[]) {
    ckpt[`${preset}/1`] = join(root, `${preset}-1`);
    ckpt[`${preset}/3`] = join(root, `${preset}-3`);
    await makeHfCheckpoint(ckpt[`${preset}/1`], { preset, seed: 11 });
    await makeHfCheckpoint(ckpt[`${preset}/3`], { preset, seed: 11, shards: 3 });
  }
  ckpt.wide = join(root, 'wide');
  await makeHfCheckpoint(ckpt.wide, { preset: 'tiny', seed: 12, overrides: { hidden_size: 256, ff_intermediate_size: 512, num_hidden_layers: 8 } });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The checkpoint's tensors as bf16 bytes, by name (single-file checkpoints). */
async function checkpointBytes(dir: string): Promise<Map<string, Uint8Array>> {
  const src = await fileSource(join(dir, 'model.safetensors'));
  const h = await readSafetensorsHeader(src);
  const out = new Map<string, Uint8Array>();
  for (const t of h.tensors.values()) out.set(t.name, await readSafetensorsRows(src, t, 0, t.shape[0]));
  await src.close();
  return out;
}

async function ggufTensor(path: string, f: GGUFFile, name: string): Promise<Uint8Array> {
  const t = f.tensors.find((x) => x.name === name)!;
  const src = await fileSource(path);
  const b = await src.read(f.dataOffset + t.offset, t.nbytes);
  await src.close();
  return b;
}

/** Rows of `bytes` (rows of rowBytes) in the order `rows`. */
function permuteRows(bytes: Uint8Array, rows: number[], rowBytes: number): Uint8Array {
  const out = new Uint8Array(rows.length * rowBytes);
  rows.forEach((r, i) => out.set(bytes.subarray(r * rowBytes, (r + 1) * rowBytes), i * rowBytes));
  return out;
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Every key the contract lists, for a model with or without LongRoPE. */
function expectedKeys(longRope: boolean, quantized: boolean): string[] {
  const A = 'phi3small';
  return [
    'general.architecture', 'general.name', 'general.file_type', ...(quantized ? ['general.quantization_version'] : []),
    `${A}.context_length`, `${A}.embedding_length`, `${A}.block_count`, `${A}.feed_forward_length`,
    `${A}.attention.head_count`, `${A}.attention.head_count_kv`, `${A}.attention.layer_norm_epsilon`, `${A}.rope.freq_base`,
    `${A}.rope.dimension_count`,
    ...(longRope ? [`${A}.rope.scaling.original_context_length`, `${A}.rope.scaling.short_mscale`, `${A}.rope.scaling.long_mscale`] : []),
    `${A}.mup.embedding_multiplier`, `${A}.mup.attn_multiplier`, `${A}.mup.width_multiplier`, `${A}.feed_forward.gegelu_limit`,
    `${A}.attention.dense_every_n_layers`, `${A}.attention.block_sparse.block_size`, `${A}.attention.block_sparse.local_blocks`,
    `${A}.attention.block_sparse.vert_stride`, `${A}.attention.block_sparse.homo_head`, `${A}.dummy_token_indices`,
    'tokenizer.ggml.model', 'tokenizer.ggml.pre', 'tokenizer.ggml.tokens', 'tokenizer.ggml.token_type', 'tokenizer.ggml.merges',
    'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.add_bos_token', 'tokenizer.chat_template',
  ];
}

describe('row orders', () => {
  it('qkv: per-group [q x n, k, v] -> all q, all k, all v; up: even rows then odd rows', () => {
    // 4 heads, 2 KV heads, head size 1: checkpoint rows q0 q1 k0 v0 | q2 q3 k1 v1.
    expect(runsToRows(qkvRuns(4, 2, 1))).toEqual([0, 1, 4, 5, 2, 6, 3, 7]);
    expect(runsToRows(qkvRuns(2, 1, 2))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(runsToRows(upRuns(3))).toEqual([0, 2, 4, 1, 3, 5]);
  });
});

describe('convert', () => {
  const cases: [HfPresetName, ConvertType][] = [
    ['tiny', 'f16'], ['tiny', 'bf16'], ['tiny', 'q8_0'], ['tiny-128k', 'f16'], ['tiny-128k', 'bf16'], ['tiny-128k', 'q8_0'],
  ];
  for (const [preset, type] of cases) {
    it(`${preset} ${type}: keys, tensors and values; 3 shards give the same file`, async () => {
      const out = join(root, `${preset}-${type}.gguf`);
      const r = await convertCheckpoint(ckpt[`${preset}/1`], out, { type });
      expect(r.bytes).toBe(readFileSync(out).length);
      const out3 = join(root, `${preset}-${type}-3.gguf`);
      await convertCheckpoint(ckpt[`${preset}/3`], out3, { type });
      expect(sha(out3)).toBe(sha(out));

      const f = await readGGUFFile(out);
      const config = JSON.parse(readFileSync(join(ckpt[`${preset}/1`], 'config.json'), 'utf8')) as Record<string, unknown>;
      const hp = parsePhi3SmallConfig(config);
      const longRope = preset === 'tiny-128k';
      expect([...f.metadata.keys()]).toEqual(expectedKeys(longRope, type === 'q8_0'));
      const m = (k: string) => f.metadata.get(k);
      expect(m('general.architecture')).toBe('phi3small');
      expect(m('general.file_type')).toBe({ f16: 1, bf16: 32, q8_0: 7, q4_k_m: 15 }[type]);
      expect(m('phi3small.context_length')).toBe(2048);
      expect(m('phi3small.embedding_length')).toBe(128);
      expect(m('phi3small.block_count')).toBe(4);
      expect(m('phi3small.feed_forward_length')).toBe(256);
      expect(m('phi3small.attention.head_count')).toBe(4);
      expect(m('phi3small.attention.head_count_kv')).toBe(2);
      expect(m('phi3small.attention.layer_norm_epsilon')).toBeCloseTo(1e-5, 10);
      expect(m('phi3small.rope.freq_base')).toBe(1e6);
      expect(m('phi3small.rope.dimension_count')).toBe(32);
      expect(m('phi3small.mup.embedding_multiplier')).toBe(10);
      expect(m('phi3small.mup.attn_multiplier')).toBe(1);
      expect(m('phi3small.mup.width_multiplier')).toBe(8);
      expect(m('phi3small.feed_forward.gegelu_limit')).toBe(4);
      expect(m('phi3small.attention.dense_every_n_layers')).toBe(2);
      expect(m('phi3small.attention.block_sparse.block_size')).toBe(16);
      expect(m('phi3small.attention.block_sparse.local_blocks')).toBe(4);
      expect(m('phi3small.attention.block_sparse.vert_stride')).toBe(4);
      expect(m('phi3small.attention.block_sparse.homo_head')).toBe(false);
      expect(Array.from(m('phi3small.dummy_token_indices') as ArrayLike<number>)).toEqual(phi3SmallDummyIds());
      if (longRope) {
        expect(m('phi3small.rope.scaling.original_context_length')).toBe(256);
        expect(m('phi3small.rope.scaling.short_mscale')).toBe(1);
        expect(m('phi3small.rope.scaling.long_mscale')).toBeCloseTo(1.19, 6);
      }
      expect(m('tokenizer.ggml.model')).toBe('gpt2');
      expect(m('tokenizer.ggml.pre')).toBe('cl100k');
      expect(m('tokenizer.ggml.bos_token_id')).toBe(100257);
      expect(m('tokenizer.ggml.eos_token_id')).toBe(100257);
      expect(m('tokenizer.ggml.add_bos_token')).toBe(false);
      expect(m('tokenizer.chat_template')).toBe(PHI3_SMALL_CHAT_TEMPLATE);
      const tokens = m('tokenizer.ggml.tokens') as string[];
      expect(tokens.length).toBe(100352);
      for (const [id, text] of phi3SmallSpecials()) expect(tokens[id]).toBe(text);
      expect((m('tokenizer.ggml.merges') as string[]).length).toBe(100256 - 256);

      const plan = planTensors(hp, type);
      expect(f.tensors.map((t) => [t.name, t.dims, t.type])).toEqual(plan.map((p) => [p.gguf, p.dims, p.type]));
      expect(f.tensors.map((t) => t.name).filter((n) => n.startsWith('rope_factors'))).toEqual(longRope ? ['rope_factors_long.weight', 'rope_factors_short.weight'] : []);
      const want = type === 'f16' ? GGMLType.F16 : type === 'bf16' ? GGMLType.BF16 : GGMLType.Q8_0;
      for (const t of f.tensors) expect(t.type, t.name).toBe(t.dims.length === 2 ? want : GGMLType.F32);

      const src = await checkpointBytes(ckpt[`${preset}/1`]);
      for (const p of plan) {
        const got = await ggufTensor(out, f, p.gguf);
        if (!('name' in p.source)) {
          const rs = config.rope_scaling as { long_factor: number[]; short_factor: number[] };
          const vals = p.gguf === 'rope_factors_long.weight' ? rs.long_factor : rs.short_factor;
          expect(Array.from(dequantize(GGMLType.F32, got, vals.length)), p.gguf).toEqual(Array.from(Float32Array.from(vals)));
          continue;
        }
        const rowLen = p.source.shape.length > 1 ? p.source.shape[1] : 1;
        const bf = permuteRows(src.get(p.source.name)!, runsToRows(p.source.runs), 2 * rowLen);
        const x = bf16ToF32(bf);
        if (p.type === GGMLType.F32) {
          expect(Buffer.from(got).equals(Buffer.from(quantize(GGMLType.F32, x))), p.gguf).toBe(true);
        } else if (p.type === GGMLType.BF16) {
          expect(Buffer.from(got).equals(Buffer.from(bf)), p.gguf).toBe(true);
        } else if (p.type === GGMLType.F16) {
          const h = new Uint16Array(got.buffer, got.byteOffset, got.length / 2);
          let bad = 0;
          for (let i = 0; i < x.length; i++) if (h[i] !== f32ToF16(x[i])) bad++;
          expect(bad, p.gguf).toBe(0);
        } else {
          const y = dequantize(GGMLType.Q8_0, got, x.length);
          let worst = 0;
          for (let b = 0; b < x.length; b += 32) {
            let amax = 0;
            for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b + j]));
            // round(x/d) is within d/2, and d's f16 rounding adds at most 127 d 2^-11.
            const bound = (amax / 127) * (0.5 + 127 * 2 ** -11) + 1e-30;
            for (let j = 0; j < 32; j++) worst = Math.max(worst, Math.abs(x[b + j] - y[b + j]) / bound);
          }
          expect(worst, p.gguf).toBeLessThanOrEqual(1);
        }
      }
    }, 120_000);
  }

  it('q4_k_m: llama.cpp\'s type choices (the tied embedding as the output), values close', async () => {
    const out = join(root, 'wide-q4_k_m.gguf');
    await convertCheckpoint(ckpt.wide, out, { type: 'q4_k_m' });
    const f = await readGGUFFile(out);
    const types = Object.fromEntries(f.tensors.map((t) => [t.name, t.type]));
    expect(types['token_embd.weight']).toBe(GGMLType.Q6_K);
    expect(types['blk.0.attn_qkv.weight']).toBe(GGMLType.Q5_K);
    expect(types['blk.0.attn_output.weight']).toBe(GGMLType.Q4_K);
    expect(types['blk.0.ffn_up.weight']).toBe(GGMLType.Q4_K);
    // 8 layers: more bits on layers 0, 4 (every third after the first eighth), 7.
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((l) => types[`blk.${l}.ffn_down.weight`])).toEqual(
      [GGMLType.Q6_K, GGMLType.Q4_K, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q4_K, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q6_K],
    );
    expect(types['blk.0.attn_norm.weight']).toBe(GGMLType.F32);
    expect(f.metadata.get('general.file_type')).toBe(15);
    const src = await checkpointBytes(ckpt.wide);
    const x = bf16ToF32(permuteRows(src.get('model.layers.0.mlp.up_proj.weight')!, runsToRows(upRuns(512)), 2 * 256));
    const y = dequantize(GGMLType.Q4_K, await ggufTensor(out, f, 'blk.0.ffn_up.weight'), x.length);
    let e = 0;
    let s = 0;
    for (let i = 0; i < x.length; i++) {
      e += (x[i] - y[i]) ** 2;
      s += x[i] ** 2;
    }
    expect(Math.sqrt(e / s)).toBeLessThan(0.15);

    // The worker pool writes the same bytes as quantizing in this thread.
    const serial = join(root, 'tiny-q4_k_m-serial.gguf');
    const pooled = join(root, 'tiny-q4_k_m-pooled.gguf');
    await convertCheckpoint(ckpt['tiny/1'], serial, { type: 'q4_k_m', threads: 0 });
    await convertCheckpoint(ckpt['tiny/1'], pooled, { type: 'q4_k_m', threads: 2 });
    expect(sha(pooled)).toBe(sha(serial));
  }, 240_000);

  it('the GGUF\'s tokenizer tokenizes as tiktoken does', async () => {
    const out = join(root, 'tiny-bf16.gguf');
    if (!existsSync(out)) await convertCheckpoint(ckpt['tiny/1'], out, { type: 'bf16' });
    const f = await readGGUFFile(out);
    const tok = createTokenizer(vocabFromMetadata(f.metadata));
    const specials: Record<string, number> = {};
    for (const [id, text] of phi3SmallSpecials()) specials[text] = id;
    const ref = new Tiktoken(cl100kBase, specials);
    for (const text of ['<|user|>\nWhat is 12345 * 678?<|end|>\n<|assistant|>\n', "Don't WE'LL   see\n\n\tx 東京 😀"]) {
      const ids = tok.encode(text, { parseSpecial: true, addSpecial: true });
      expect(ids).toEqual(ref.encode(text, 'all'));
      expect(tok.decode(ids, { unparseSpecial: true })).toBe(text);
    }
  }, 60_000);
});

describe('refusals', () => {
  /** A copy of the tiny single-file checkpoint to break. */
  function copy(name: string, from = ckpt['tiny/1']): string {
    const dir = join(root, `bad-${name}`);
    cpSync(from, dir, { recursive: true });
    return dir;
  }

  /** Rewrites model.safetensors with its header changed (and extra data appended). */
  function rewriteHeader(dir: string, mutate: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>, dataLen: number) => void, extra = new Uint8Array(0)): void {
    const p = join(dir, 'model.safetensors');
    const buf = readFileSync(p);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
    const data = buf.subarray(8 + n);
    mutate(header, data.length);
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(p, Buffer.concat([len, json, data, extra]));
  }

  const noLeftovers = (dir: string) => expect(readdirSync(dir).filter((f) => f.includes('.partial'))).toEqual([]);

  it('missing files', async () => {
    for (const file of ['config.json', 'tokenizer_config.json', 'cl100k_base.tiktoken', 'model.safetensors']) {
      const dir = copy(`missing-${file}`);
      rmSync(join(dir, file));
      await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(new RegExp(`has no ${file.replace('.', '\\.')}|neither model\\.safetensors`));
    }
    const dir = copy('missing-shard', ckpt['tiny/3']);
    rmSync(join(dir, 'model-00002-of-00003.safetensors'));
    await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(/has no model-00002-of-00003\.safetensors \(listed in model\.safetensors\.index\.json\)/);
    await expect(convertCheckpoint(join(root, 'nowhere'), join(root, 'x.gguf'))).rejects.toThrow(/is not a folder/);
    expect(existsSync(join(root, 'x.gguf'))).toBe(false);
    noLeftovers(root);
  });

  it('wrong dtype, missing tensor, extra tensor, truncated file', async () => {
    let dir = copy('dtype');
    rewriteHeader(dir, (h) => { h['model.layers.1.mlp.down_proj.weight'].dtype = 'F16'; });
    await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(/tensor "model\.layers\.1\.mlp\.down_proj\.weight" in model\.safetensors is F16; Phi-3-small checkpoints are BF16/);

    dir = copy('missing-tensor');
    rewriteHeader(dir, (h) => { delete h['model.layers.2.input_layernorm.bias']; });
    await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(/no tensor "model\.layers\.2\.input_layernorm\.bias"/);

    dir = copy('extra-tensor');
    rewriteHeader(dir, (h, len) => { h['lm_head.weight'] = { dtype: 'BF16', shape: [4], data_offsets: [len, len + 8] }; }, new Uint8Array(8));
    await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(/tensor "lm_head\.weight" in model\.safetensors is not part of a Phi-3-small model/);

    dir = copy('truncated');
    const p = join(dir, 'model.safetensors');
    truncateSync(p, readFileSync(p).length - 1000);
    await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(/truncated/);
    expect(existsSync(join(root, 'x.gguf'))).toBe(false);
    noLeftovers(root);
  });

  it('a shape that disagrees with config.json; config values we cannot run, by key', async () => {
    const dir = copy('shape');
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, ff_intermediate_size: 512 }));
    await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(/"model\.layers\.0\.mlp\.up_proj\.weight" in model\.safetensors has shape \[512, 128\]; config\.json implies \[1024, 128\]/);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, model_type: 'phi3' }));
    await expect(convertCheckpoint(dir, join(root, 'x.gguf'))).rejects.toThrow(/config\.json: "model_type" is "phi3"/);

    const bad = (patch: Record<string, unknown>, re: RegExp) => expect(() => parsePhi3SmallConfig({ ...cfg, ...patch })).toThrow(re);
    const without = (k: string) => { const c = { ...cfg }; delete c[k]; return c; };
    expect(() => parsePhi3SmallConfig(without('gegelu_limit'))).toThrow(/"gegelu_limit" is missing/);
    expect(() => parsePhi3SmallConfig(without('blocksparse_vert_stride'))).toThrow(/"blocksparse_vert_stride" is missing/);
    bad({ rope_position_scale: 2 }, /"rope_position_scale" is 2/);
    bad({ mup_use_scaling: false }, /"mup_use_scaling" is false/);
    bad({ hidden_act: 'gelu' }, /"hidden_act" is "gelu"/);
    bad({ tie_word_embeddings: false }, /"tie_word_embeddings" is false/);
    bad({ vocab_size: 100000 }, /"vocab_size" is 100000/);
    bad({ num_key_value_heads: 3 }, /"num_key_value_heads" \(3\) does not divide/);
    bad({ hidden_size: 130 }, /"num_attention_heads" \(4\) does not divide hidden_size 130/);
    bad({ blocksparse_homo_head_pattern: 'no' }, /"blocksparse_homo_head_pattern" is "no"/);
    bad({ layer_norm_epsilon: 0 }, /"layer_norm_epsilon" is 0/);
    bad({ rope_scaling: { type: 'dynamic' } }, /"rope_scaling\.type" is "dynamic"/);
    bad({ rope_scaling: { type: 'su', short_factor: [1], long_factor: [1], short_mscale: 1, long_mscale: 1, original_max_position_embeddings: 256 } }, /"rope_scaling\.short_factor" must be 16 positive numbers/);
    const rs = { type: 'longrope', short_factor: new Array(16).fill(1), long_factor: new Array(16).fill(2), short_mscale: 1, long_mscale: 1.2, original_max_position_embeddings: 4096 };
    bad({ rope_scaling: rs }, /"rope_scaling\.original_max_position_embeddings" is 4096/);
    expect(parsePhi3SmallConfig({ ...cfg, rope_scaling: { ...rs, original_max_position_embeddings: 256 } }).longRope?.longMscale).toBe(1.2);
  });

  it('an unknown --type, an existing output without --force, and no half-written output after a failure', async () => {
    const out = join(root, 'exists.gguf');
    await expect(convertCheckpoint(ckpt['tiny/1'], out, { type: 'q5_0' as ConvertType })).rejects.toThrow(/unknown --type "q5_0"/);
    writeFileSync(out, 'old');
    await expect(convertCheckpoint(ckpt['tiny/1'], out, { type: 'bf16' })).rejects.toThrow(/already exists \(pass --force/);
    let calls = 0;
    await expect(convertCheckpoint(ckpt['tiny/1'], out, {
      type: 'bf16', force: true,
      log: () => { if (++calls === 2) throw new Error('interrupted'); },
    })).rejects.toThrow(/interrupted/);
    expect(readFileSync(out, 'utf8')).toBe('old');
    noLeftovers(root);
    await convertCheckpoint(ckpt['tiny/1'], out, { type: 'bf16', force: true });
    expect(sha(out)).toBe(sha(join(root, 'tiny-bf16.gguf')));
  }, 60_000);
});

describe('the CLI', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--import', './scripts/register-raw.mjs', 'scripts/convert.ts', ...args], { encoding: 'utf8' });

  it('prints usage, refuses an unknown --type, converts with progress, time and peak RSS', () => {
    let r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/usage: npm run convert -- --hf DIR --out FILE\.gguf/);
    r = run('--hf', ckpt['tiny/1'], '--out', join(root, 'cli.gguf'), '--type', 'q3_k');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown --type "q3_k": one of f16, bf16, q8_0, q4_k_m/);
    r = run('--hf', ckpt['tiny/1'], '--out', join(root, 'cli.gguf'), '--type', 'bf16');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\[ {2}0%\] 1\/51 token_embd\.weight/);
    expect(r.stdout).toMatch(/wrote .*cli\.gguf: [\d.]+ MB in [\d.]+ s, peak RSS \d+ MiB/);
    r = run('--hf', ckpt['tiny/1'], '--out', join(root, 'cli.gguf'), '--type', 'bf16');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cli\.gguf already exists \(pass --force to replace it\)/);
  }, 60_000);
});
