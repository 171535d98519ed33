/**
 * The weight formats the GPU kernels read: the repacked layouts of src/model/repack.ts, one WGSL
 * decoder per format (shaders/weights_<type>.wgsl, after what it shares with similar formats),
 * and how a kernel module is composed (weightShader):
 *   [enable subgroups;] quant_common.wgsl + BLOCK, CHUNK, CHUNK_VECS (from FORMATS)
 *     [+ weights_split_d.wgsl] + the format's decoder files + driver (+ reduction).
 * With f16 math (decode GEMVs only, on devices with `shader-f16`) the module starts with
 * `enable f16;` and the decoder files are the format's f16 ones (quant_f16.wgsl + f16Sources).
 * Names are GGML's (`QUANT_INFO[type].name` in src/model/quant), so the engine maps a tensor's
 * type to a format by name.
 */
import { createStorage, uploadStorage } from '../gpu/buffers.ts';
import common from '../../shaders/quant_common.wgsl?raw';
import splitD from '../../shaders/weights_split_d.wgsl?raw';
import plainX from '../../shaders/weights_plain_x.wgsl?raw';
import float from '../../shaders/weights_float.wgsl?raw';
import kGroup from '../../shaders/weights_k_group.wgsl?raw';
import bf16 from '../../shaders/weights_bf16.wgsl?raw';
import f16 from '../../shaders/weights_f16.wgsl?raw';
import f32 from '../../shaders/weights_f32.wgsl?raw';
import q4_0 from '../../shaders/weights_q4_0.wgsl?raw';
import q4_k from '../../shaders/weights_q4_k.wgsl?raw';
import q5_k from '../../shaders/weights_q5_k.wgsl?raw';
import q6_k from '../../shaders/weights_q6_k.wgsl?raw';
import q8_0 from '../../shaders/weights_q8_0.wgsl?raw';
import quantF16 from '../../shaders/quant_f16.wgsl?raw';
import plainXF16 from '../../shaders/weights_plain_x_f16.wgsl?raw';
import kGroupF16 from '../../shaders/weights_k_group_f16.wgsl?raw';
import f16F16 from '../../shaders/weights_f16_f16.wgsl?raw';
import q4_0F16 from '../../shaders/weights_q4_0_f16.wgsl?raw';
import q4_kF16 from '../../shaders/weights_q4_k_f16.wgsl?raw';
import q5_kF16 from '../../shaders/weights_q5_k_f16.wgsl?raw';
import q6_kF16 from '../../shaders/weights_q6_k_f16.wgsl?raw';
import q8_0F16 from '../../shaders/weights_q8_0_f16.wgsl?raw';

export type WeightFormat = 'F32' | 'F16' | 'BF16' | 'Q4_0' | 'Q8_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';

interface FormatInfo {
  /** Row lengths must be a multiple of this (the shader's BLOCK: the block size; 8 for the float types' vec4 reads). */
  kMultiple: number;
  /** Elements one thread handles at once (the shader's CHUNK; CHUNK_VECS = chunk / 4). */
  chunk: number;
  /** Elements per block and bytes per block in the repacked `blocks` array. */
  blockElems: number;
  blockBytes: number;
  /** True when the f16 `d` of each block sits in a separate `scales` array (binding 1, weights_split_d.wgsl). */
  split: boolean;
  /** The decoder's WGSL files, in module order. */
  sources: string[];
  /**
   * The f16-math decoder's files (after quant_f16.wgsl), for the decode GEMVs only: chunk_vec,
   * XChunk, prep_x and chunk_dot, no dequant_chunk. Absent where the format has none: F32
   * (its weights do not fit f16) and BF16 (its exponent range exceeds f16's).
   */
  f16Sources?: string[];
}

const FORMATS: Record<WeightFormat, FormatInfo> = {
  F32: { kMultiple: 8, chunk: 8, blockElems: 1, blockBytes: 4, split: false, sources: [plainX, float, f32] },
  F16: { kMultiple: 8, chunk: 8, blockElems: 1, blockBytes: 2, split: false, sources: [plainX, float, f16], f16Sources: [plainXF16, f16F16] },
  BF16: { kMultiple: 8, chunk: 8, blockElems: 1, blockBytes: 2, split: false, sources: [plainX, float, bf16] },
  Q4_0: { kMultiple: 32, chunk: 32, blockElems: 32, blockBytes: 16, split: true, sources: [q4_0], f16Sources: [q4_0F16] },
  Q8_0: { kMultiple: 32, chunk: 32, blockElems: 32, blockBytes: 32, split: true, sources: [plainX, q8_0], f16Sources: [plainXF16, q8_0F16] },
  Q4_K: { kMultiple: 256, chunk: 64, blockElems: 256, blockBytes: 144, split: false, sources: [kGroup, q4_k], f16Sources: [kGroupF16, q4_kF16] },
  Q5_K: { kMultiple: 256, chunk: 64, blockElems: 256, blockBytes: 176, split: false, sources: [kGroup, q5_k], f16Sources: [kGroupF16, q5_kF16] },
  Q6_K: { kMultiple: 256, chunk: 64, blockElems: 256, blockBytes: 208, split: true, sources: [q6_k], f16Sources: [q6_kF16] },
};

/** Every format the kernels read, in the table's order (the weight kernels' tests run each one). */
export const WEIGHT_FORMATS = Object.keys(FORMATS) as WeightFormat[];

export function isWeightFormat(name: string): name is WeightFormat {
  return Object.hasOwn(FORMATS, name);
}

export function formatInfo(format: WeightFormat): Readonly<FormatInfo> {
  const info = FORMATS[format];
  if (!info) throw new Error(`no GPU kernel for weight format ${String(format)}`);
  return info;
}

/** Throws unless rows of length k can be read by the kernels. */
export function checkRowLength(format: WeightFormat, k: number): void {
  const { kMultiple } = formatInfo(format);
  if (!Number.isInteger(k) || k <= 0 || k % kMultiple !== 0) {
    throw new RangeError(`${format} kernels need a row length that is a positive multiple of ${kMultiple}, got ${k}`);
  }
}

/** Bytes of one repacked row in `blocks` and in `scales` (as src/model/repack.ts lays them out). */
export function weightRowBytes(format: WeightFormat, k: number): { blocks: number; scales: number } {
  checkRowLength(format, k);
  const { blockElems, blockBytes, split } = formatInfo(format);
  const nb = k / blockElems;
  return { blocks: nb * blockBytes, scales: split ? Math.ceil(nb / 2) * 4 : 0 };
}

/** A weight tensor (or one row-range part of it) in GPU buffers, as repacked. */
export interface GpuWeight {
  format: WeightFormat;
  /** Elements per row. */
  k: number;
  /** Rows in these buffers. */
  rows: number;
  blocks: GPUBuffer;
  /** The f16 d pairs; required for Q4_0, Q8_0 and Q6_K. */
  scales?: GPUBuffer;
}

/** Checks a GpuWeight against its format and shape before it is bound. */
export function checkWeight(w: GpuWeight): void {
  const rb = weightRowBytes(w.format, w.k);
  if (w.rows < 1) throw new RangeError(`${w.format} weight with ${w.rows} rows`);
  if (w.blocks.size < w.rows * rb.blocks) {
    throw new RangeError(`${w.format} ${w.rows}x${w.k}: blocks buffer has ${w.blocks.size} B, needs ${w.rows * rb.blocks}`);
  }
  if (formatInfo(w.format).split) {
    if (!w.scales) throw new RangeError(`${w.format} weight needs its scales buffer`);
    if (w.scales.size < w.rows * rb.scales) {
      throw new RangeError(`${w.format} ${w.rows}x${w.k}: scales buffer has ${w.scales.size} B, needs ${w.rows * rb.scales}`);
    }
  }
}

/** Bind group layout entries 0 (blocks) and, for split formats, 1 (scales). */
export function weightLayoutEntries(format: WeightFormat): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
  ];
  if (formatInfo(format).split) {
    entries.push({ binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } });
  }
  return entries;
}

export function weightBindEntries(w: GpuWeight): GPUBindGroupEntry[] {
  checkWeight(w);
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: w.blocks } }];
  if (formatInfo(w.format).split) entries.push({ binding: 1, resource: { buffer: w.scales as GPUBuffer } });
  return entries;
}

/** Whether the format has an f16-math decoder (weightShader's f16 option; the decode GEMVs' `f16`). */
export function hasF16Decoder(format: WeightFormat): boolean {
  return formatInfo(format).f16Sources !== undefined;
}

/**
 * WGSL module text for a driver over this format's decoder. f16: the f16-math decoder, in a
 * module that enables f16 (the device needs `shader-f16`); a driver that calls only chunk_vec,
 * prep_x and chunk_dot. Throws for a format without one (hasF16Decoder).
 */
export function weightShader(format: WeightFormat, driver: string, opts: { subgroups?: boolean; tail?: string; f16?: boolean } = {}): string {
  const { kMultiple, chunk, split, sources, f16Sources } = formatInfo(format);
  if (opts.f16 && !f16Sources) throw new Error(`${format} weights have no f16-math decoder (formats with one: ${WEIGHT_FORMATS.filter(hasF16Decoder).join(', ')})`);
  const sizes = `const BLOCK: u32 = ${kMultiple}u;\nconst CHUNK: u32 = ${chunk}u;\nconst CHUNK_VECS: u32 = ${chunk / 4}u;\n`;
  const decoder = opts.f16 ? [quantF16, ...f16Sources!] : sources;
  const parts = [common, sizes, ...(split ? [splitD] : []), ...decoder, driver];
  if (opts.tail) parts.push(opts.tail);
  return (opts.f16 ? 'enable f16;\n' : '') + (opts.subgroups ? 'enable subgroups;\n\n' : '') + parts.join('\n');
}

/** Empty (zeroed) buffers for a weight of `rows` rows of k elements, to be written in place. */
export function createWeight(device: GPUDevice, format: WeightFormat, k: number, rows: number): GpuWeight {
  const rb = weightRowBytes(format, k);
  const w: GpuWeight = { format, k, rows, blocks: createStorage(device, rows * rb.blocks, `${format}.blocks`) };
  if (rb.scales) w.scales = createStorage(device, rows * rb.scales, `${format}.scales`);
  checkWeight(w);
  return w;
}

/** Uploads repacked bytes as a GpuWeight (blocks, and scales when given). */
export function uploadWeight(
  device: GPUDevice,
  format: WeightFormat,
  k: number,
  rows: number,
  blocks: Uint8Array,
  scales?: Uint8Array,
): GpuWeight {
  const w: GpuWeight = { format, k, rows, blocks: uploadStorage(device, blocks, `${format}.blocks`) };
  if (scales) w.scales = uploadStorage(device, scales, `${format}.scales`);
  checkWeight(w);
  return w;
}

export function destroyWeight(w: GpuWeight): void {
  w.blocks.destroy();
  w.scales?.destroy();
}
