/**
 * The generated Phi-3-small checkpoints have the published layout (files, config keys, tensor
 * names, shapes, bf16), the same tensors whether sharded or not, and a forward pass (plain loops,
 * PHI3SMALL.md's equations) with finite activations, clamps that fire, and peaked logits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16ToF32, parseShardIndex, readSafetensorsHeader, readSafetensorsRows, type SafetensorsTensor } from '../src/model/safetensors.ts';
import { fileSource } from '../src/model/source-node.ts';
import { HF_PRESETS, PHI3_SMALL_CHAT_TEMPLATE, checkpointTensors, makeHfCheckpoint } from './make-hf-checkpoint.ts';

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hf-ckpt-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function loadAll(dir: string): Promise<Map<string, { t: SafetensorsTensor; values: Float32Array; bits: Uint8Array }>> {
  let files = ['model.safetensors'];
  try {
    files = parseShardIndex(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')).shards;
  } catch {
    /* single file */
  }
  const out = new Map<string, { t: SafetensorsTensor; values: Float32Array; bits: Uint8Array }>();
  for (const f of files) {
    const src = await fileSource(join(dir, f));
    const h = await readSafetensorsHeader(src);
    for (const t of h.tensors.values()) {
      const bits = await readSafetensorsRows(src, t, 0, t.shape[0]);
      out.set(t.name, { t, values: bf16ToF32(bits), bits });
    }
    await src.close();
  }
  return out;
}

describe('makeHfCheckpoint', () => {
  it('writes the published files, config and tensors (tiny)', async () => {
    const dir = join(root, 'tiny');
    const r = await makeHfCheckpoint(dir, { preset: 'tiny', seed: 3 });
    expect(r.files.sort()).toEqual(['cl100k_base.tiktoken', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer_config.json']);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const k of ['model_type', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'ff_intermediate_size', 'vocab_size',
      'max_position_embeddings', 'layer_norm_epsilon', 'rope_embedding_base', 'rope_position_scale', 'rope_scaling', 'mup_embedding_multiplier',
      'mup_attn_multiplier', 'mup_width_multiplier', 'mup_use_scaling', 'gegelu_limit', 'hidden_act', 'dense_attention_every_n_layers',
      'blocksparse_block_size', 'blocksparse_num_local_blocks', 'blocksparse_vert_stride', 'blocksparse_homo_head_pattern', 'tie_word_embeddings']) {
      expect(config, k).toHaveProperty(k);
    }
    expect(config).toMatchObject({ model_type: 'phi3small', hidden_size: 128, num_key_value_heads: 2, gegelu_limit: 4, rope_scaling: null, vocab_size: 100352 });
    const tok = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    expect(tok).toMatchObject({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', chat_template: PHI3_SMALL_CHAT_TEMPLATE });
    const lines = readFileSync(join(dir, 'cl100k_base.tiktoken'), 'utf8').split('\n');
    expect(lines.length).toBe(100257); // 100256 lines and the final newline
    expect(lines[0]).toBe('IQ== 0');
    expect(lines[100255]).toMatch(/ 100255$/);

    const all = await loadAll(dir);
    const specs = checkpointTensors(HF_PRESETS.tiny);
    expect([...all.keys()]).toEqual(specs.map((s) => s.name));
    for (const s of specs) {
      expect(all.get(s.name)?.t.shape, s.name).toEqual(s.shape);
      expect(all.get(s.name)?.t.dtype).toBe('BF16');
    }
    expect(all.get('model.layers.0.self_attn.query_key_value.weight')?.t.shape).toEqual([256, 128]);
    expect(all.has('lm_head.weight')).toBe(false);
  });

  it('shards hold the same tensors as one file; LongRoPE config (tiny-128k)', async () => {
    const one = join(root, 'one');
    const three = join(root, 'three');
    await makeHfCheckpoint(one, { preset: 'tiny-128k', seed: 5 });
    const r = await makeHfCheckpoint(three, { preset: 'tiny-128k', seed: 5, shards: 3 });
    expect(r.files).toContain('model-00002-of-00003.safetensors');
    const index = parseShardIndex(readFileSync(join(three, 'model.safetensors.index.json'), 'utf8'));
    expect(index.shards).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    const a = await loadAll(one);
    const b = await loadAll(three);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, x] of a) expect(Buffer.from(b.get(name)!.bits).equals(Buffer.from(x.bits)), name).toBe(true);
    const config = JSON.parse(readFileSync(join(one, 'config.json'), 'utf8')) as { rope_scaling: Record<string, unknown> };
    expect(config.rope_scaling).toMatchObject({ type: 'su', short_mscale: 1, long_mscale: 1.19, original_max_position_embeddings: 256 });
    expect((config.rope_scaling.long_factor as number[]).length).toBe(16);
    expect((config.rope_scaling.short_factor as number[]).length).toBe(16);
  });

  it('a forward pass of tiny is finite, clamps some up_proj outputs and gives peaked logits', async () => {
    const dir = join(root, 'tiny');
    const all = await loadAll(dir);
    const w = (n: string) => all.get(n)!.values;
    const c = HF_PRESETS.tiny;
    const H = c.hidden_size, F = c.ff_intermediate_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = H / nh, g = nh / nkv;
    const ln = (x: Float32Array, wt: Float32Array, b: Float32Array) => {
      let m = 0; for (const v of x) m += v; m /= H;
      let s = 0; for (const v of x) s += (v - m) ** 2; s /= H;
      return x.map((v, i) => ((v - m) / Math.sqrt(s + c.layer_norm_epsilon)) * wt[i] + b[i]);
    };
    const mv = (W: Float32Array, b: Float32Array, x: Float32Array, rows: number) => {
      const y = new Float32Array(rows);
      for (let r = 0; r < rows; r++) { let s = b[r]; for (let i = 0; i < x.length; i++) s += W[r * x.length + i] * x[i]; y[r] = s; }
      return y;
    };
    const rope = (v: Float32Array, pos: number) => {
      const o = v.slice();
      for (let i = 0; i < hd / 2; i++) {
        const a = pos * c.rope_embedding_base ** (-2 * i / hd);
        o[i] = v[i] * Math.cos(a) - v[i + hd / 2] * Math.sin(a);
        o[i + hd / 2] = v[i + hd / 2] * Math.cos(a) + v[i] * Math.sin(a);
      }
      return o;
    };
    const ids = [9906, 1917, 11, 1268, 527, 499, 30];
    const E = w('model.embed_tokens.weight');
    const xs = ids.map((id) => E.slice(id * H, (id + 1) * H).map((v) => v * c.mup_embedding_multiplier));
    let clamped = 0, upCount = 0;
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `model.layers.${l}`;
      const qs: Float32Array[][] = [], ks: Float32Array[][] = [], vs: Float32Array[][] = [];
      xs.forEach((x, pos) => {
        const qkv = mv(w(`${p}.self_attn.query_key_value.weight`), w(`${p}.self_attn.query_key_value.bias`), ln(x, w(`${p}.input_layernorm.weight`), w(`${p}.input_layernorm.bias`)), (nh + 2 * nkv) * hd);
        const q: Float32Array[] = [], k: Float32Array[] = [], v: Float32Array[] = [];
        for (let gr = 0; gr < nkv; gr++) {
          const base = gr * (g + 2) * hd;
          for (let j = 0; j < g; j++) q.push(rope(qkv.slice(base + j * hd, base + (j + 1) * hd), pos));
          k.push(rope(qkv.slice(base + g * hd, base + (g + 1) * hd), pos));
          v.push(qkv.slice(base + (g + 1) * hd, base + (g + 2) * hd));
        }
        qs.push(q); ks.push(k); vs.push(v);
      });
      xs.forEach((x, pos) => {
        const att = new Float32Array(H);
        for (let h = 0; h < nh; h++) {
          const kvh = Math.floor(h / g);
          const s = Array.from({ length: pos + 1 }, (_, j) => qs[pos][h].reduce((a, qv, i) => a + qv * ks[j][kvh][i], 0) * (c.mup_attn_multiplier / hd));
          const mx = Math.max(...s); const e = s.map((v) => Math.exp(v - mx)); const z = e.reduce((a, b) => a + b, 0);
          for (let j = 0; j <= pos; j++) for (let i = 0; i < hd; i++) att[h * hd + i] += (e[j] / z) * vs[j][kvh][i];
        }
        const o = mv(w(`${p}.self_attn.dense.weight`), w(`${p}.self_attn.dense.bias`), att, H);
        for (let i = 0; i < H; i++) x[i] += o[i];
        const u = mv(w(`${p}.mlp.up_proj.weight`), w(`${p}.mlp.up_proj.bias`), ln(x, w(`${p}.post_attention_layernorm.weight`), w(`${p}.post_attention_layernorm.bias`)), 2 * F);
        const y = new Float32Array(F);
        for (let i = 0; i < F; i++) {
          upCount++;
          if (u[2 * i] > c.gegelu_limit || Math.abs(u[2 * i + 1]) > c.gegelu_limit) clamped++;
          const gg = Math.min(u[2 * i], c.gegelu_limit), li = Math.max(-c.gegelu_limit, Math.min(c.gegelu_limit, u[2 * i + 1]));
          y[i] = gg / (1 + Math.exp(-1.702 * gg)) * (li + 1);
        }
        const d = mv(w(`${p}.mlp.down_proj.weight`), w(`${p}.mlp.down_proj.bias`), y, H);
        for (let i = 0; i < H; i++) x[i] += d[i];
      });
    }
    expect(clamped / upCount).toBeGreaterThan(0.01);
    expect(clamped / upCount).toBeLessThan(0.3);
    const tops: number[] = [];
    for (const x of xs) {
      expect(x.every(Number.isFinite)).toBe(true);
      const h = ln(x, w('model.final_layernorm.weight'), w('model.final_layernorm.bias'));
      const logits = mv(E, new Float32Array(c.vocab_size), h, c.vocab_size).map((v) => v / c.mup_width_multiplier);
      let m = 0; for (const v of logits) m += v; m /= logits.length;
      let s = 0; for (const v of logits) s += (v - m) ** 2;
      const std = Math.sqrt(s / logits.length);
      expect(std).toBeGreaterThan(2);
      expect(std).toBeLessThan(8);
      const sorted = Array.from(logits).sort((a, b) => b - a);
      expect(sorted[0] - sorted[1]).toBeGreaterThan(0.01);
      tops.push(logits.indexOf(sorted[0]));
    }
    // The next token depends on the context, not only on the current token.
    expect(tops.filter((t, i) => t === ids[i]).length).toBeLessThan(ids.length);
  }, 60_000);
});
