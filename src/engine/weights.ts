/**
 * The model's weights on the GPU. Every buffer is made first (planWeights), then each GGUF tensor
 * is read from its ByteSource a row range at a time, repacked losslessly (src/model/repack.ts) and
 * written into place; tensors larger than the device's storage binding limit are split by rows
 * into parts. A logical matrix ("linear") is a list of parts, each writing its rows at an offset
 * of the output: llama-architecture files' separate q/k/v (and gate/up) tensors become one fused
 * linear this way, exactly like phi3's.
 */
import type { ModelConfig } from '../model/config.ts';
import type { ByteSource, GGUFFile, TensorInfo } from '../model/gguf-types.ts';
import { GGML_TYPE_INFO } from '../model/gguf-types.ts';
import { concatRepacked, repackRows, splitRows, type RepackedTensor } from '../model/repack.ts';
import { createWeight, destroyWeight, isWeightFormat, type GpuWeight, type WeightFormat } from '../kernels/weight-formats.ts';
import { createStorage } from '../gpu/buffers.ts';
import { dequantize } from '../model/quant/index.ts';

/** One row range of a tensor on the GPU, writing output rows [rowOffset, rowOffset + rows). */
export interface LinearPart {
  weight: GpuWeight;
  rowOffset: number;
}

export interface Linear {
  name: string;
  format: WeightFormat;
  /** Input features. */
  k: number;
  /** Output features (sum of the parts' rows). */
  rows: number;
  parts: LinearPart[];
  /** Bytes of this tensor in the file (what a decode step reads). */
  fileBytes: number;
}

/** phi3small's bias vectors of one layer (f32): the norms' and the projections'. */
export interface LayerBiases {
  attnNorm: GPUBuffer; // [dim]
  qkv: GPUBuffer; // [dim + 2 kvDim]
  wo: GPUBuffer; // [dim]
  ffnNorm: GPUBuffer; // [dim]
  up: GPUBuffer; // [2 ffn]: gelu half, then the linear half
  down: GPUBuffer; // [dim]
}

export interface LayerWeights {
  /** Present iff cfg.biases. */
  bias?: LayerBiases;
  attnNorm: GPUBuffer;
  qkv: Linear;
  wo: Linear;
  ffnNorm: GPUBuffer;
  /** gate rows, then up rows */
  up: Linear;
  down: Linear;
}

export interface ModelWeights {
  embed: Linear;
  layers: LayerWeights[];
  /**
   * The final norm's weight (and, with cfg.biases, its bias), both multiplied by cfg.logitScale:
   * for LayerNorm, head(LN(x) w s + b s) = s head(LN(x) w + b), exactly when s is a power of two
   * (each rounding commutes with it, barring underflow): Phi-3-small's 1/8. For other s each
   * element is rounded once more (1 ulp).
   */
  outputNorm: GPUBuffer;
  outputNormBias?: GPUBuffer;
  output: Linear;
  /** [ropeDim/2] f32, the factor set chosen for the context length, if the file has any. */
  ropeFactors?: GPUBuffer;
  /** Sum of the bytes of every tensor (the file's tensor data). */
  totalBytes: number;
  /** Bytes of the GPU buffers holding them (repacked: the GPU layout's size, not the file's). */
  bufferBytes: number;
  destroy(): void;
}

export interface LoadProgress {
  tensor: string;
  bytesDone: number;
  bytesTotal: number;
}

/** Reads rows [start, start + count) of a tensor from the source. */
async function readRows(src: ByteSource, file: GGUFFile, t: TensorInfo, rowBytes: number, start: number, count: number): Promise<Uint8Array> {
  return src.read(file.dataOffset + t.offset + start * rowBytes, count * rowBytes);
}

/**
 * Makes the weights' GPU buffers first (sizes come from the tensor table), then fills them. Until
 * `fill` has run, the buffers hold zeros; binding them (the engine's bind groups) is already fine,
 * which lets the engine set itself up, pipelines included, while the bytes stream in.
 */
export class WeightLoader {
  private readonly buffers: GPUBuffer[] = [];
  private readonly weights: GpuWeight[] = [];
  private readonly jobs: (() => Promise<void>)[] = [];
  private done = 0;
  readonly total: number;

  constructor(
    readonly device: GPUDevice,
    readonly file: GGUFFile,
    readonly src: ByteSource,
    readonly onProgress?: (p: LoadProgress) => void,
    /** Upper bound on bytes read from the source at once. */
    readonly readChunkBytes = 32 * 2 ** 20,
  ) {
    this.total = file.tensors.reduce((s, t) => s + t.nbytes, 0);
  }

  tensor(name: string): TensorInfo {
    const t = this.file.tensors.find((x) => x.name === name);
    if (!t) throw new Error(`weights: tensor ${name} missing`);
    return t;
  }

  private progress(name: string, bytes: number): void {
    this.done += bytes;
    this.onProgress?.({ tensor: name, bytesDone: this.done, bytesTotal: this.total });
  }

  /** A 1-D f32 vector (norm weights, biases, rope factors) times `scale`, dequantized if stored otherwise; filled by fill(). */
  vector(name: string, scale = 1): GPUBuffer {
    const t = this.tensor(name);
    const buf = createStorage(this.device, t.nelements * 4, name);
    this.buffers.push(buf);
    this.jobs.push(async () => {
      const raw = await this.src.read(this.file.dataOffset + t.offset, t.nbytes);
      const values = dequantize(t.type, raw, t.nelements);
      if (scale !== 1) for (let i = 0; i < values.length; i++) values[i] *= scale;
      this.device.queue.writeBuffer(buf, 0, values.buffer, values.byteOffset, values.byteLength);
      this.progress(name, t.nbytes);
    });
    return buf;
  }

  /** Tensors concatenated by output rows into one linear (one tensor for phi3's fused ones); filled by fill(). */
  linear(names: string[]): Linear {
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    const parts: LinearPart[] = [];
    let rowOffset = 0;
    let format: WeightFormat | undefined;
    let k = 0;
    let fileBytes = 0;
    for (const name of names) {
      const t = this.tensor(name);
      const typeName = GGML_TYPE_INFO[t.type]?.name ?? `type ${t.type}`;
      if (!isWeightFormat(typeName)) throw new Error(`weights: no GPU kernel for ${name} of type ${typeName}`);
      if (format && (format !== typeName || k !== t.dims[0])) {
        throw new Error(`weights: ${names.join(' + ')} mix types or widths; they cannot share one kernel`);
      }
      const fmt = (format = typeName);
      const width = (k = t.dims[0]);
      const rows = t.nelements / width;
      const rowBytes = t.nbytes / rows;
      fileBytes += t.nbytes;
      for (const range of splitRows(t.type, rows, width, maxBinding)) {
        const weight = createWeight(this.device, fmt, width, range.rowCount);
        this.weights.push(weight);
        parts.push({ weight, rowOffset: rowOffset + range.rowStart });
        // Read and repack the part a chunk of rows at a time, then write each buffer in one go
        // (Dawn zero-fills a buffer before its first partial write). The bytes read are ours, so
        // formats stored as they are skip the repack's copy.
        this.jobs.push(async () => {
          const step = Math.max(1, Math.floor(this.readChunkBytes / rowBytes));
          const pieces: RepackedTensor[] = [];
          for (let r = 0; r < range.rowCount; r += step) {
            const count = Math.min(step, range.rowCount - r);
            const raw = await readRows(this.src, this.file, t, rowBytes, range.rowStart + r, count);
            pieces.push(repackRows(t.type, width, raw, 0, count, { copy: false }));
            this.progress(name, raw.length);
          }
          const { blocks, scales } = concatRepacked(pieces);
          const write = (buf: GPUBuffer, data: Uint8Array) => this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
          write(weight.blocks, blocks);
          if (weight.scales && scales) write(weight.scales, scales);
        });
      }
      rowOffset += rows;
    }
    return { name: names.join('+'), format: format as WeightFormat, k, rows: rowOffset, parts, fileBytes };
  }

  /** Reads, repacks and uploads everything vector() and linear() planned, in the order planned. */
  async fill(): Promise<void> {
    for (const job of this.jobs.splice(0)) await job();
  }

  /** Bytes of every buffer planned so far. */
  get bufferBytes(): number {
    let n = 0;
    for (const b of this.buffers) n += b.size;
    for (const w of this.weights) n += w.blocks.size + (w.scales?.size ?? 0);
    return n;
  }

  destroyAll(): void {
    for (const b of this.buffers) b.destroy();
    for (const w of this.weights) destroyWeight(w);
  }
}

/**
 * The GPU buffers of every weight the forward pass needs, made now and empty, and `fill`, which
 * reads, repacks and uploads them. On failure (of either) the caller destroys `weights`.
 */
export function planWeights(
  device: GPUDevice,
  file: GGUFFile,
  src: ByteSource,
  cfg: ModelConfig,
  opts: { contextLength: number; onProgress?: (p: LoadProgress) => void },
): { weights: ModelWeights; fill: () => Promise<void> } {
  const L = new WeightLoader(device, file, src, opts.onProgress);
  try {
    const layers: LayerWeights[] = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      const b = `blk.${l}.`;
      const bias: LayerBiases | undefined = cfg.biases
        ? {
            attnNorm: L.vector(`${b}attn_norm.bias`),
            qkv: L.vector(`${b}attn_qkv.bias`),
            wo: L.vector(`${b}attn_output.bias`),
            ffnNorm: L.vector(`${b}ffn_norm.bias`),
            up: L.vector(`${b}ffn_up.bias`),
            down: L.vector(`${b}ffn_down.bias`),
          }
        : undefined;
      layers.push({
        bias,
        attnNorm: L.vector(`${b}attn_norm.weight`),
        qkv: L.linear(cfg.fused ? [`${b}attn_qkv.weight`] : [`${b}attn_q.weight`, `${b}attn_k.weight`, `${b}attn_v.weight`]),
        wo: L.linear([`${b}attn_output.weight`]),
        ffnNorm: L.vector(`${b}ffn_norm.weight`),
        up: L.linear(cfg.fused ? [`${b}ffn_up.weight`] : [`${b}ffn_gate.weight`, `${b}ffn_up.weight`]),
        down: L.linear([`${b}ffn_down.weight`]),
      });
    }
    const embed = L.linear(['token_embd.weight']);
    const output = cfg.tiedOutput ? embed : L.linear(['output.weight']);
    const outputNorm = L.vector('output_norm.weight', cfg.logitScale);
    const outputNormBias = cfg.biases ? L.vector('output_norm.bias', cfg.logitScale) : undefined;
    // llama.cpp picks LongRoPE's factor set statically from the context it runs with (PHI3.md 1.2).
    const useLong = opts.contextLength > cfg.originalContextLength;
    const factorName = useLong
      ? cfg.ropeFactorsLong ? 'rope_factors_long.weight' : cfg.ropeFactorsShort ? 'rope_factors_short.weight' : undefined
      : cfg.ropeFactorsShort ? 'rope_factors_short.weight' : cfg.ropeFactorsLong ? 'rope_factors_long.weight' : undefined;
    const ropeFactors = factorName ? L.vector(factorName) : undefined;
    const weights = { embed, layers, outputNorm, outputNormBias, output, ropeFactors, totalBytes: L.total, bufferBytes: L.bufferBytes, destroy: () => L.destroyAll() };
    return { weights, fill: () => L.fill() };
  } catch (e) {
    L.destroyAll();
    throw e;
  }
}
