/**
 * The GPU device of a test file, the one way every GPU test opens its device: opened before its
 * tests, destroyed after them, with the adapter's subgroup sizes for the error bounds of
 * subgroup reductions (src/kernels/test-weights.ts).
 */
import { afterAll, beforeAll } from 'vitest';
import { openNodeDevice } from './node.ts';

export interface TestGpu {
  /** Valid inside tests (set by beforeAll). */
  readonly device: GPUDevice;
  /** The adapter's subgroup sizes, or WebGPU's allowed range (4..128) when it does not say. */
  readonly subgroupSizes: { min: number; max: number };
  hasSubgroups(): boolean;
}

/** Registers beforeAll / afterAll in the calling test file. */
export function gpuForTests(): TestGpu {
  let device: GPUDevice | undefined;
  let subgroupSizes = { min: 4, max: 128 };
  beforeAll(async () => {
    const opened = await openNodeDevice();
    device = opened.device;
    const { subgroupMinSize: min, subgroupMaxSize: max } = opened.capabilities.adapter;
    if (min && max) subgroupSizes = { min, max };
  });
  afterAll(() => device?.destroy());
  return {
    get device() {
      if (!device) throw new Error('gpuForTests: the device is opened in beforeAll; use it inside tests');
      return device;
    },
    get subgroupSizes() {
      return subgroupSizes;
    },
    hasSubgroups: () => device!.features.has('subgroups'),
  };
}
