/**
 * The decode norm chain: a residual projection writing the next RMSNorm's inputs (matvec with
 * normOut: y += W x, xg = y * g, per-workgroup sums of y^2; shaders/matvec_store_norm.wgsl), read
 * by the PRESCALED norm_matvec and swiglu_matvec, which then load neither g nor square x.
 *
 * Checked against the CPU: y as matvec.test.ts checks it (errorBounds, matvecDepth); xg bit-exact
 * as the f32 product of the GPU's y and g; each partial as the sum of its rows' y^2 (positive
 * terms: relative error at most (rows + 1) u); the padding to whole vec4s zero. The readers on
 * the writer's own outputs against rmsnormRef(y, g) -> matvecRef (-> siluMulRef), with the
 * bounds of norm-matvec.test.ts / swiglu-matvec.test.ts and prescaledNormDepth for the sum of
 * squares that now arrives in parts.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { readBuffer, uploadStorage } from '../gpu/buffers.ts';
import { MatvecKernel, type MatvecOptions } from './matvec.ts';
import { matvecRef } from './matvec.ref.ts';
import { NormMatvecKernel } from './norm-matvec.ts';
import { rmsnormRef } from './rmsnorm.ref.ts';
import { siluMulRef } from './silu_mul.ref.ts';
import { SwigluMatvecKernel } from './swiglu-matvec.ts';
import { decodeTuning } from './tuning.ts';
import { destroyWeight } from './weight-formats.ts';
import { GgmlType } from '../model/quant/index.ts';
import { Rng } from '../util/rng.ts';
import { prescaledNormDepth } from './test-norm.ts';
import { U, checkBounds, describeBounds, errorBounds, makeWeight, matvecDepth, swigluBound, uploadTestWeight } from './test-weights.ts';

const EPS = 1e-5;

const gpu = gpuForTests();

async function read(buf: GPUBuffer, bytes: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(gpu.device, buf, bytes));
}

/**
 * Runs writer (dim rows over k1 inputs, residual onto h0) then both readers on its outputs, and
 * checks everything. `shape`: the three kernels' shape (rows for swiglu: half, as in tuning.ts),
 * unless `readers` gives the readers' own.
 */
async function chain(
  shape: MatvecOptions,
  dim: number,
  k1: number,
  rows2: number,
  ffn: number,
  seed: number,
  readers?: { norm: MatvecOptions; swiglu: MatvecOptions },
): Promise<void> {
  const rng = new Rng(seed);
  const sg = (shape.subgroups ?? gpu.device.features.has('subgroups')) ? gpu.subgroupSizes : null;
  const writer = new MatvecKernel(gpu.device, 'Q4_K', { ...shape, normOut: true });
  const w1 = makeWeight(GgmlType.Q4_K, dim, k1, rng);
  const a = rng.fill(k1).map((v) => 3 * v);
  const h0 = rng.fill(dim).map((v) => 8 * v);
  const g = rng.fill(dim, 0.2, 2);
  const parts = writer.partialCount(dim);
  const wb1 = uploadTestWeight(gpu.device, w1);
  const ab = uploadStorage(gpu.device, a, 'a');
  const hb = uploadStorage(gpu.device, h0, 'h');
  const gb = uploadStorage(gpu.device, g, 'g');
  const xg = uploadStorage(gpu.device, new Float32Array(dim).fill(NaN), 'xg');
  // NaN where the writer must write; the padding starts (and must stay) zero
  const partInit = new Float32Array(writer.partialsBytes(dim) / 4);
  partInit.fill(NaN, 0, parts);
  const pb = uploadStorage(gpu.device, partInit, 'partials');
  const p1 = writer.createParams(k1, dim, 0, true);

  // the readers: norm + a Q5_K projection (attn_qkv's type), norm + Q4_K gate/up + SwiGLU
  const normShape = readers?.norm ?? { ...shape, rowsPerWorkgroup: Math.min(shape.rowsPerWorkgroup ?? 16, shape.workgroupSize ?? 64) };
  const reader = new NormMatvecKernel(gpu.device, 'Q5_K', { ...normShape, prescaled: true });
  const w2 = makeWeight(GgmlType.Q5_K, rows2, dim, rng);
  const wb2 = uploadTestWeight(gpu.device, w2);
  const y2 = uploadStorage(gpu.device, new Float32Array(rows2).fill(NaN), 'y2');
  const p2 = reader.createParams({ k: dim, rows: rows2, eps: EPS, parts });
  const swShape = readers?.swiglu ?? { ...shape, rowsPerWorkgroup: Math.max(1, Math.floor((shape.rowsPerWorkgroup ?? 16) / 2)) };
  const sw = new SwigluMatvecKernel(gpu.device, 'Q4_K', { ...swShape, prescaled: true });
  const w3 = makeWeight(GgmlType.Q4_K, 2 * ffn, dim, rng);
  const wb3 = uploadTestWeight(gpu.device, w3);
  const y3 = uploadStorage(gpu.device, new Float32Array(ffn).fill(NaN), 'y3');
  const p3 = sw.createParams(wb3, { ffn, eps: EPS, parts });

  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  writer.encode(pass, writer.bindNormOut(wb1, ab, hb, p1, { g: gb, xg, partials: pb }), dim);
  reader.encode(pass, reader.bindPrescaled(wb2, xg, pb, y2, p2), rows2);
  sw.encode(pass, sw.bindPrescaled(wb3, xg, pb, y3, p3), ffn);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const [h, xgv, pv, out2, out3] = await Promise.all([read(hb, 4 * dim), read(xg, 4 * dim), read(pb, partInit.byteLength), read(y2, 4 * rows2), read(y3, 4 * ffn)]);
  const what = `dim ${dim} k ${k1} ${JSON.stringify(shape)}`;

  // the writer
  const href = matvecRef(w1.w, a, dim, k1, h0);
  const hr = checkBounds(h, href, errorBounds(w1, a, matvecDepth(GgmlType.Q4_K, k1, writer.lanesPerRow, sg), href));
  expect(hr.ok, `y, ${what}: ${describeBounds(hr)}`).toBe(true);
  for (let i = 0; i < dim; i++) {
    if (xgv[i] !== Math.fround(h[i] * g[i])) expect.fail(`xg[${i}] = ${xgv[i]}, expected fl(y * g) = ${Math.fround(h[i] * g[i])} (${what})`);
  }
  const rowsPer = writer.rowsPerWorkgroup;
  for (let p = 0; p < partInit.length; p++) {
    if (p >= parts) {
      expect(pv[p], `padding partial ${p} (${what})`).toBe(0);
      continue;
    }
    let s = 0;
    for (let i = p * rowsPer; i < Math.min(dim, (p + 1) * rowsPer); i++) s += h[i] * h[i];
    expect(Math.abs(pv[p] - s), `partial ${p}: ${pv[p]} vs ${s} (${what})`).toBeLessThanOrEqual((rowsPer + 1) * U * s);
  }

  // the readers, on the writer's own y
  const xn = rmsnormRef(h, g, 1, dim, EPS);
  // depths over the threads that share a row: the workgroup, or a row group's lanes (which also
  // split the handed-off partial sums among themselves); see matvec.test.ts judge
  const depth2 = matvecDepth(GgmlType.Q5_K, dim, reader.lanesPerRow, sg) + prescaledNormDepth(rowsPer, parts, reader.lanesPerRow, sg);
  const ref2 = matvecRef(w2.w, xn, rows2, dim);
  const r2 = checkBounds(out2, ref2, errorBounds(w2, xn, depth2, ref2));
  expect(r2.ok, `norm_matvec prescaled, ${what}: ${describeBounds(r2)}`).toBe(true);

  const depth3 = matvecDepth(GgmlType.Q4_K, dim, sw.lanesPerRow, sg) + prescaledNormDepth(rowsPer, parts, sw.lanesPerRow, sg);
  const gu = matvecRef(w3.w, xn, 2 * ffn, dim);
  const e = errorBounds(w3, xn, depth3, gu);
  const hs = siluMulRef(gu, 1, ffn);
  const bound = Float64Array.from(hs, (v, r) => swigluBound(gu[r], gu[ffn + r], e[r], e[ffn + r], v) + U * Math.abs(v));
  const r3 = checkBounds(out3, hs, bound);
  expect(r3.ok, `swiglu_matvec prescaled, ${what}: ${describeBounds(r3)}`).toBe(true);

  for (const wb of [wb1, wb2, wb3]) destroyWeight(wb);
  for (const b of [ab, hb, gb, xg, pb, p1, y2, p2, y3, p3]) b.destroy();
}

describe('decode norm chain: matvec normOut -> prescaled norm_matvec and swiglu_matvec', () => {
  it('the per-adapter shapes of tuning.ts, Phi-3-like widths off the tiles', async () => {
    const shapes = new Map<string, MatvecOptions>();
    for (const description of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'SwiftShader Device (Subzero)', 'Apple M2']) {
      const { matvec } = decodeTuning({ vendor: '', architecture: '', device: '', description }, gpu.device.features.has('subgroups'));
      shapes.set(JSON.stringify(matvec), matvec);
    }
    let seed = 1;
    // the readers' k = dim is a whole number of blocks; rows2 and ffn off the tiles
    for (const s of shapes.values()) await chain(s, 768, 1024, 37, 21, seed++);
  });

  it('other shapes and reductions: a down-like long k, few rows per workgroup, 8 threads', async () => {
    const sub = gpu.device.features.has('subgroups');
    // 5 rows per workgroup: a partial last workgroup and 154 partials padded to 156
    await chain({ workgroupSize: 16, rowsPerWorkgroup: 5, subgroups: false }, 768, 2048, 19, 9, 11);
    await chain({ workgroupSize: 8, rowsPerWorkgroup: 8, subgroups: sub }, 256, 256, 9, 5, 12);
    await chain({ workgroupSize: 64, rowsPerWorkgroup: 16, subgroups: sub }, 3072, 256, 16, 8, 13);
  });

  it('row groups (lanesPerRow): writer and readers, each with the default shape on the other side', async () => {
    const g4 = { workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 4, subgroups: false };
    const g8 = { workgroupSize: 256, lanesPerRow: 32, rowsPerWorkgroup: 8, subgroups: false };
    const g2 = { workgroupSize: 64, lanesPerRow: 32, rowsPerWorkgroup: 2, subgroups: false };
    await chain(g4, 768, 1024, 37, 21, 21, { norm: g4, swiglu: g4 });
    await chain(g8, 768, 512, 19, 9, 22, { norm: g2, swiglu: g8 });
    // a default-shape writer: 154 partials, padded to 156
    await chain({ workgroupSize: 16, rowsPerWorkgroup: 5, subgroups: false }, 768, 512, 19, 9, 23, { norm: g8, swiglu: g2 });
    // 3 rows per group: a partial last workgroup and 22 partials, padded to 24
    await chain({ workgroupSize: 128, lanesPerRow: 32, rowsPerWorkgroup: 12, subgroups: false }, 256, 256, 9, 5, 24, { norm: {}, swiglu: {} });
    if (gpu.device.features.has('subgroups')) {
      const min = gpu.subgroupSizes.min;
      const whole = { workgroupSize: 32, lanesPerRow: min, rowsPerWorkgroup: 64 / min, subgroups: true };
      const half = { workgroupSize: 32, lanesPerRow: min / 2, rowsPerWorkgroup: 64 / min, subgroups: true };
      await chain(whole, 768, 1024, 37, 21, 25, { norm: half, swiglu: whole });
      await chain(half, 768, 512, 19, 9, 26, { norm: whole, swiglu: half });
    }
  });
});
