import silu from '../../shaders/silu.wgsl?raw';
import source from '../../shaders/silu_mul.wgsl?raw';
import { ElementwiseKernel } from './elementwise.ts';

/**
 * h [M, ffn] = silu(gate) * up over gu [M, 2 * ffn] (see shaders/silu_mul.wgsl):
 * createParams(ffn), bind(gu, h, params), encode(pass, group, ffn, M).
 */
export class SiluMulKernel extends ElementwiseKernel {
  constructor(device: GPUDevice, workgroupSize?: number) {
    super(device, 'silu_mul', `${silu}\n${source}`, workgroupSize);
  }
}
