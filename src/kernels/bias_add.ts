import source from '../../shaders/bias_add.wgsl?raw';
import { ElementwiseKernel } from './elementwise.ts';

/**
 * y [M, n] += b [n] on every row (see shaders/bias_add.wgsl): createParams(n), bind(b, y, params),
 * encode(pass, group, n, M).
 */
export class BiasAddKernel extends ElementwiseKernel {
  constructor(device: GPUDevice, workgroupSize?: number) {
    super(device, 'bias_add', source, workgroupSize);
  }
}
