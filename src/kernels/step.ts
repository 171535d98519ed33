/**
 * The per-step uniform shared by every kernel that depends on where in the sequence a step is.
 * One small buffer, written once per step with `queue.writeBuffer` before the step's command
 * buffer is submitted; bind groups never change between steps.
 *
 *   pos0     position of the first token of this step
 *   nTokens  M, tokens in this step (1 for decode, the chunk size or less for prefill)
 *   kvLen    pos0 + M: keys visible to the last token of the step (cache slots 0 .. kvLen-1)
 *
 * Kernels that read it prepend STEP_WGSL to their shader source (see the .wgsl headers) and bind
 * the buffer as `var<uniform> step: Step`.
 */
import { UniformLayout } from '../gpu/uniforms.ts';

export const stepUniforms = new UniformLayout([
  ['pos0', 'u32'],
  ['nTokens', 'u32'],
  ['kvLen', 'u32'],
  ['_pad', 'u32'],
] as const);

/** `struct Step`, the same fields as stepUniforms. */
export const STEP_WGSL = stepUniforms.wgsl('Step');

export interface Step {
  pos0: number;
  nTokens: number;
}

/** Packs a step; `out` may be reused across steps (16 bytes). */
export function packStep({ pos0, nTokens }: Step, out?: ArrayBuffer): ArrayBuffer {
  if (!Number.isInteger(pos0) || pos0 < 0 || !Number.isInteger(nTokens) || nTokens < 1) {
    throw new Error(`step: bad pos0 ${pos0} / nTokens ${nTokens}`);
  }
  return stepUniforms.pack({ pos0, nTokens, kvLen: pos0 + nTokens, _pad: 0 }, out);
}

export function createStepBuffer(device: GPUDevice, label = 'step'): GPUBuffer {
  return device.createBuffer({ label, size: stepUniforms.byteSize, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
}

export function writeStep(device: GPUDevice, buffer: GPUBuffer, step: Step): void {
  device.queue.writeBuffer(buffer, 0, packStep(step));
}
