/**
 * Kernel self-test: runs kernels on seeded inputs on this device and compares each with its
 * CPU reference. Used by the e2e test in the browser worker and shown on the diagnostics screen,
 * so a broken driver is caught before it produces a wrong token.
 */
import { RmsNormKernel, runRmsNorm } from '../kernels/rmsnorm.ts';
import { rmsnormRef } from '../kernels/rmsnorm.ref.ts';
import { compareArrays, type CompareReport } from '../util/compare.ts';
import { Rng } from '../util/rng.ts';

export interface SelfTestCase {
  kernel: string;
  shape: string;
  ms: number;
  report: CompareReport;
}

export async function runSelfTest(device: GPUDevice): Promise<SelfTestCase[]> {
  const out: SelfTestCase[] = [];
  const rms = new RmsNormKernel(device);
  // Phi-3's hidden size, and a size that is not a multiple of the workgroup.
  for (const [rows, n] of [[4, 3072], [3, 1001]] as const) {
    const rng = new Rng(rows * 7919 + n);
    const x = rng.fill(rows * n, -4, 4);
    const w = rng.fill(n, 0.5, 1.5);
    const t0 = performance.now();
    const got = await runRmsNorm(rms, x, w, rows, n, 1e-5);
    const ms = performance.now() - t0;
    // Tolerance: see rmsnorm.test.ts (f32 sum of squares vs an f64 reference).
    out.push({ kernel: 'rmsnorm', shape: `${rows}x${n}`, ms, report: compareArrays(got, rmsnormRef(x, w, rows, n, 1e-5), 1e-7, 1e-5) });
  }
  return out;
}
