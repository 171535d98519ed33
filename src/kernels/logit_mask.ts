import source from '../../shaders/logit_mask.wgsl?raw';
import { uploadStorage } from '../gpu/buffers.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { ComputeKernel, createUniform } from './compute-kernel.ts';

/** The value a masked logit gets (shaders/logit_mask.wgsl MASKED): finite, far below any real logit. */
export const MASKED_LOGIT = -1e30;

/** The ids' buffer and uniform of one mask; the caller destroys both. */
export interface LogitMask {
  ids: GPUBuffer;
  params: GPUBuffer;
  count: number;
}

/**
 * logits[ids[i]] = MASKED_LOGIT (see shaders/logit_mask.wgsl): createMask(ids, vocab),
 * bind(mask, logits), encode(pass, group, mask.count).
 */
export class LogitMaskKernel {
  static readonly uniforms = new UniformLayout([['count', 'u32']] as const);

  private readonly kernel: ComputeKernel;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = 64,
  ) {
    this.kernel = new ComputeKernel(device, {
      label: 'logit_mask',
      bindings: ['read-only-storage', 'storage', 'uniform'],
      code: source,
      constants: { WG: workgroupSize },
    });
  }

  /** The ids (each checked < vocab: the kernel writes logits[id] unchecked) and their uniform; made once at load. */
  createMask(ids: readonly number[], vocab: number): LogitMask {
    for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < vocab)) throw new RangeError(`logit_mask: id ${id} outside the vocabulary (${vocab})`);
    // a binding may not be empty: a mask of no ids holds one word it never reads
    const buf = uploadStorage(this.device, Uint32Array.from(ids.length > 0 ? ids : [0]), 'logit_mask.ids');
    return { ids: buf, params: createUniform(this.device, LogitMaskKernel.uniforms, 'logit_mask.params', { count: ids.length }), count: ids.length };
  }

  bind(mask: LogitMask, logits: GPUBuffer): GPUBindGroup {
    return this.kernel.bind(mask.ids, logits, mask.params);
  }

  /** Nothing is dispatched for a mask of no ids. */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, count: number): void {
    if (count > 0) this.kernel.dispatch(pass, bindGroup, Math.ceil(count / this.workgroupSize));
  }
}
