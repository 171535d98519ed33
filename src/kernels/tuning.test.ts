import { describe, expect, it } from 'vitest';
import { cpuDriver, decodeTuning, fitShape } from './tuning.ts';

const adapter = (description: string, vendor = '') => ({ vendor, architecture: '', device: '', description });

describe('tuning', () => {
  it('recognizes the CPU Vulkan drivers by their adapter names', () => {
    expect(cpuDriver(adapter('llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1'))).toBe('lavapipe');
    expect(cpuDriver(adapter('SwiftShader driver 5.0.0', 'google'))).toBe('swiftshader');
    expect(cpuDriver(adapter('', 'google'))).toBe(null);
    expect(cpuDriver(adapter('NVIDIA GeForce RTX 4090', 'nvidia'))).toBe(null);
  });

  it('gives valid kernel shapes for every adapter kind, subgroups only when asked', () => {
    for (const name of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'SwiftShader driver 5.0.0', 'Apple M2', '']) {
      for (const sub of [false, true]) {
        const t = decodeTuning(adapter(name), sub);
        for (const s of [t.matvec, t.normMatvec, t.swigluMatvec]) {
          expect(Number.isInteger(Math.log2(s.workgroupSize)) && s.workgroupSize >= 4 && s.workgroupSize <= 256).toBe(true);
          expect(s.rowsPerWorkgroup >= 1 && s.rowsPerWorkgroup <= 32 && s.rowsPerWorkgroup <= s.workgroupSize).toBe(true);
          expect(s.subgroups).toBe(sub);
        }
      }
    }
    // the measured entries
    expect(decodeTuning(adapter('llvmpipe'), true).matvec).toEqual({ workgroupSize: 32, rowsPerWorkgroup: 32, subgroups: true });
    expect(decodeTuning(adapter('SwiftShader'), true).matvec).toEqual({ workgroupSize: 16, rowsPerWorkgroup: 16, subgroups: true });
    expect(decodeTuning(adapter('Apple M2'), true).matvec).toEqual({ workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: true });
    expect(decodeTuning(adapter('llvmpipe'), true).balanceChunks).toBe(false);
    expect(decodeTuning(adapter('SwiftShader'), true).balanceChunks).toBe(true);
    expect(decodeTuning(adapter('Apple M2'), true).balanceChunks).toBe(false);
  });

  it('picks the broadcast prefill GEMM only on a CPU driver with subgroups of one known size', () => {
    const sized = (description: string, min?: number, max = min) => ({ ...adapter(description), subgroupMinSize: min, subgroupMaxSize: max });
    expect(decodeTuning(sized('llvmpipe', 8), true).matmul).toEqual({ subgroupSize: 8, rowsPerLane: 4, tokens: 8 });
    expect(decodeTuning(sized('SwiftShader driver 5.0.0', 4), true).matmul).toEqual({ subgroupSize: 4, rowsPerLane: 4, tokens: 8 });
    expect(decodeTuning(sized('llvmpipe', 8), false).matmul).toBe(null); // no subgroups feature
    expect(decodeTuning(sized('llvmpipe'), true).matmul).toBe(null); // sizes unknown
    expect(decodeTuning(sized('llvmpipe', 4, 8), true).matmul).toBe(null); // sizes vary
    expect(decodeTuning(sized('llvmpipe', 16), true).matmul).toBe(null); // not the size measured
    expect(decodeTuning(sized('Apple M2', 32), true).matmul).toBe(null); // real GPUs: the tiled GEMM
  });

  it('narrows the workgroup to the chunks of a short row, never below 8 threads', () => {
    const s = { workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: true };
    expect(fitShape(s, 96)).toBe(s); // Phi-3-mini Q4_K, k = 3072: unchanged
    expect(fitShape(s, 64)).toBe(s);
    expect(fitShape(s, 48).workgroupSize).toBe(64); // Q6_K lm_head, k = 3072: 48 chunks
    expect(fitShape(s, 32).workgroupSize).toBe(32);
    expect(fitShape(s, 16)).toEqual({ ...s, workgroupSize: 16 }); // small's lm_head, k = 1024
    expect(fitShape(s, 4)).toEqual({ ...s, workgroupSize: 8, rowsPerWorkgroup: 8 }); // thread r writes row r
    expect(fitShape(s, 12).workgroupSize).toBe(16);
    expect(fitShape(s, 4).workgroupSize).toBe(8); // tiny's lm_head, k = 256
    expect(fitShape({ ...s, workgroupSize: 16 }, 40).workgroupSize).toBe(16); // never wider than tuned
    // balance (CPU drivers): the narrowest width with the fewest idle threads in the last pass
    const cpu = { ...s, workgroupSize: 32 };
    expect(fitShape(cpu, 48, true).workgroupSize).toBe(16); // Q4_K/Q5_K/Q6_K at k = 3072: 3 chunks each
    expect(fitShape(cpu, 48, false).workgroupSize).toBe(32);
    expect(fitShape(cpu, 128, true)).toBe(cpu); // k = 8192: 4 each already
    expect(fitShape(cpu, 40, true).workgroupSize).toBe(8); // 5 each
    expect(fitShape(cpu, 36, true).workgroupSize).toBe(8); // 8 x 5 = 40 (4 idle) beats 16 x 3 (12), 32 x 2 (28)
  });
});
