/**
 * Round-trip checks shared by the K-quant tests (imported by *.test.ts only).
 *
 * Two properties are checked:
 * 1. Nearest level (hard, per element). Each sub-block decodes to the grid
 *    { D*(q - off) - M : q = 0..levels-1 } with D, M read back from the block. The reference
 *    quantizer re-quantizes every element against that final grid, so the round-trip error must
 *    equal the distance from x to the grid: <= D/2 inside the grid's range, the distance to the
 *    range outside it (values clipped by the fit or by the 6-bit scale rounding). Slack covers
 *    the f32 rounding of (x + M)/D.
 * 2. Relative RMS error (statistical) on gaussian super-blocks against a bound stated per format
 *    from uniform quantization noise, step/sqrt(12), with step = (expected sub-block range)/(levels-1).
 */
import { expect } from 'vitest';
import type { Rng } from '../../util/rng.ts';
import { f16ToF32 } from './f16.ts';
import { getScaleMinK4 } from './kquant.ts';
import { mixedData } from './test-data.ts';

type KKind = 'Q4_K' | 'Q5_K' | 'Q6_K';

/** Six-bit (scale, min) of sub-blocks 0..7 exercising both branches of get_scale_min_k4 (bytes derived in q4_k.test.ts). */
export const SC = [1, 2, 3, 63, 17, 33, 48, 63];
export const MN = [0, 5, 63, 7, 18, 40, 1, 62];
export const SCALE_BYTES = [65, 130, 195, 255, 64, 133, 63, 199, 33, 129, 16, 239];

/** A Q4_K (144-byte) or Q5_K (176-byte) super-block head: f16 d and dmin bits, SCALE_BYTES; the rest zero. */
export function kBlockHead(typeSize: number, dBits: number, mBits: number): Uint8Array {
  const b = new Uint8Array(typeSize);
  b[0] = dBits & 0xff;
  b[1] = dBits >> 8;
  b[2] = mBits & 0xff;
  b[3] = mBits >> 8;
  b.set(SCALE_BYTES, 4);
  return b;
}

interface Grid {
  D: number;
  M: number;
  off: number;
  levels: number;
}

const LAYOUT: Record<KKind, { typeSize: number; sub: number }> = {
  Q4_K: { typeSize: 144, sub: 32 },
  Q5_K: { typeSize: 176, sub: 32 },
  Q6_K: { typeSize: 210, sub: 16 },
};

/** The decode grid of sub-block j of the block at q[o..]. */
function gridOf(kind: KKind, q: Uint8Array, o: number, j: number): Grid {
  if (kind === 'Q6_K') {
    const d = f16ToF32(q[o + 208] | (q[o + 209] << 8));
    return { D: Math.fround(d * ((q[o + 192 + j] << 24) >> 24)), M: 0, off: 32, levels: 64 };
  }
  const d = f16ToF32(q[o] | (q[o + 1] << 8));
  const dmin = f16ToF32(q[o + 2] | (q[o + 3] << 8));
  const sm = getScaleMinK4(j, q, o + 4);
  return { D: Math.fround(d * (sm & 0xff)), M: Math.fround(dmin * (sm >> 8)), off: 0, levels: kind === 'Q4_K' ? 16 : 32 };
}

function gridDistance(g: Grid, x: number): number {
  let best = Infinity;
  for (let q = 0; q < g.levels; q++) best = Math.min(best, Math.abs(Math.fround(Math.fround(g.D * (q - g.off)) - g.M) - x));
  return best;
}

export interface KRoundTrip {
  kind: KKind;
  quantize: (x: Float32Array) => Uint8Array;
  dequantize: (src: Uint8Array, n: number) => Float32Array;
  rng: Rng;
  /** Bound on sqrt(sum err^2 / sum x^2) over all gaussian blocks; 1.5x that per block. */
  rmsBound: number;
}

export function checkKQuantRoundTrip(t: KRoundTrip): void {
  const { typeSize, sub } = LAYOUT[t.kind];
  // 200 gaussian super-blocks with scales 1e-3..1e3, then the 8 shapes of mixedData x 4.
  const nGauss = 200;
  const mixed = mixedData(t.rng.u32(), 32);
  const x = new Float32Array(nGauss * 256 + mixed.length);
  for (let b = 0; b < nGauss; b++) {
    const s = 10 ** t.rng.uniform(-3, 3);
    for (let i = 0; i < 256; i++) x[b * 256 + i] = t.rng.normal() * s;
  }
  x.set(mixed, nGauss * 256);
  const q = t.quantize(x);
  expect(q.length).toBe((x.length / 256) * typeSize);
  const y = t.dequantize(q, x.length);

  let se = 0;
  let sx = 0;
  let worstBlock = 0;
  for (let b = 0; b < x.length / 256; b++) {
    let bse = 0;
    let bsx = 0;
    for (let j = 0; j < 256 / sub; j++) {
      const g = gridOf(t.kind, q, b * typeSize, j);
      for (let l = 0; l < sub; l++) {
        const i = b * 256 + j * sub + l;
        const err = Math.abs(y[i] - x[i]);
        const bound = gridDistance(g, x[i]) + Math.abs(g.D) * 1e-5 + Math.abs(x[i]) * 2 ** -22;
        if (!(err <= bound)) expect.fail(`${t.kind} element ${i}: error ${err} > distance to grid ${bound}`);
        bse += err * err;
        bsx += x[i] * x[i];
      }
    }
    if (b < nGauss) {
      se += bse;
      sx += bsx;
      worstBlock = Math.max(worstBlock, Math.sqrt(bse / bsx));
    }
  }
  const rel = Math.sqrt(se / sx);
  console.log(`${t.kind}: relative RMS error ${rel.toFixed(4)} (bound ${t.rmsBound}), worst block ${worstBlock.toFixed(4)}`);
  expect(rel).toBeLessThanOrEqual(t.rmsBound);
  expect(worstBlock).toBeLessThanOrEqual(1.5 * t.rmsBound);
}
