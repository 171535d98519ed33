import { describe, expect, it } from 'vitest';
import { KERNEL_ROLES, choiceOf, describeChoice, tablePlan, tuningKey, withChoice } from './plan.ts';
import type { ModelConfig } from '../model/config.ts';
import type { TensorInfo } from '../model/gguf-types.ts';

const lavapipe = { vendor: 'mesa', architecture: '', device: '', description: 'llvmpipe (LLVM 19)', subgroupMinSize: 8, subgroupMaxSize: 8 };
const gpu = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100', subgroupMinSize: 32, subgroupMaxSize: 32 };

describe('kernel plans', () => {
  it('the table plan gives every role the table shape, fitted to short rows', () => {
    const p = tablePlan(lavapipe, true);
    expect(p.source).toBe('table');
    expect(p.gemv.qkv).toEqual({ workgroupSize: 32, rowsPerWorkgroup: 32, subgroups: true, fit: true });
    expect(p.gemv.gateUp.rowsPerWorkgroup).toBe(16);
    expect(p.gemm.gemmQkv.bcast).toEqual({ subgroupSize: 8, rowsPerLane: 4, tokens: 8 });
    const g = tablePlan(gpu, true);
    expect(g.gemv.wo).toEqual({ workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: true, fit: true });
    expect(g.gemm.gemmWo).toEqual({});
  });

  it('withChoice replaces one role and leaves the plan it came from alone', () => {
    const p = tablePlan(gpu, false);
    for (const role of KERNEL_ROLES) {
      const q = withChoice(p, role, { marker: role });
      expect(choiceOf(q, role)).toEqual({ marker: role });
      for (const other of KERNEL_ROLES) if (other !== role) expect(choiceOf(q, other)).toEqual(choiceOf(p, other));
      expect(choiceOf(p, role)).not.toEqual({ marker: role });
    }
  });

  it('describes a choice in a few words', () => {
    expect(describeChoice({ workgroupSize: 64, rowsPerWorkgroup: 8, subgroups: true, f16: false, fit: true })).toBe('workgroupSize=64 rowsPerWorkgroup=8 subgroups');
    expect(describeChoice({ workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: false, splitK: 4 })).toBe('workgroupSize=64 rowsPerWorkgroup=16 splitK=4');
    expect(describeChoice({})).toBe('default');
    expect(describeChoice({ bcast: { subgroupSize: 8, tokens: 8 } })).toBe('bcast(subgroupSize=8 tokens=8)');
  });

  it('keys a tuned plan by adapter, kernels version, shapes and layer 0 formats', () => {
    const cfg = { dim: 3072, ffnDim: 8192, nHeads: 32, nKvHeads: 32, headDim: 96, vocabSize: 32064 } as ModelConfig;
    const t = (name: string, type: number) => ({ name, type, dims: [3072, 3072] }) as TensorInfo;
    const file = { tensors: [t('blk.0.attn_qkv.weight', 12), t('blk.1.attn_qkv.weight', 14), t('output.weight', 14), t('blk.0.ffn_down.weight', 14)] };
    const key = tuningKey(gpu, cfg, file);
    expect(key).toMatch(/^v\d+\|nvidia\/hopper\/\/NVIDIA H100\|3072x8192 h32\/32x96 v32064\|attn_qkv:Q4_K,ffn_down:Q6_K,output:Q6_K$/);
    expect(tuningKey(lavapipe, cfg, file)).not.toBe(key);
    expect(tuningKey(gpu, { ...cfg, ffnDim: 8064 }, file)).not.toBe(key);
    // Tied output (Phi-4-mini): the head reads token_embd, so its format is the head's.
    const tied = { tensors: [t('blk.0.attn_qkv.weight', 12), t('token_embd.weight', 14), t('blk.0.ffn_down.weight', 14)] };
    expect(tuningKey(gpu, { ...cfg, tiedOutput: true }, tied)).toMatch(/\|attn_qkv:Q4_K,ffn_down:Q6_K,token_embd:Q6_K$/);
    expect(tuningKey(gpu, { ...cfg, tiedOutput: true }, { tensors: [...tied.tensors.slice(0, 1), t('token_embd.weight', 12), tied.tensors[2]] })).toMatch(/token_embd:Q4_K$/);
  });
});
