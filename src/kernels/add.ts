import source from '../../shaders/add.wgsl?raw';
import { ElementwiseKernel } from './elementwise.ts';

/**
 * y [M, n] += x [M, n] (see shaders/add.wgsl): createParams(n), bind(x, y, params),
 * encode(pass, group, n, M).
 */
export class AddKernel extends ElementwiseKernel {
  constructor(device: GPUDevice, workgroupSize?: number) {
    super(device, 'add', source, workgroupSize);
  }
}
