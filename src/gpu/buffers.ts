/** Small buffer helpers; everything the kernels and the engine allocate goes through here. */

export function createStorage(device: GPUDevice, size: number, label: string, extraUsage = 0): GPUBuffer {
  return device.createBuffer({
    label,
    size: Math.max(16, Math.ceil(size / 16) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage,
  });
}

export function uploadStorage(device: GPUDevice, data: ArrayBufferView, label: string): GPUBuffer {
  const buffer = createStorage(device, data.byteLength, label);
  device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return buffer;
}

/** Copies `size` bytes of `src` back to the CPU (one staging buffer, destroyed after). */
export async function readBuffer(device: GPUDevice, src: GPUBuffer, size = src.size, offset = 0): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder({ label: 'readback' });
  enc.copyBufferToBuffer(src, offset, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  return out;
}

/** Runs `fn` inside a validation + out-of-memory error scope and throws what it caught. */
export async function withErrorScope<T>(device: GPUDevice, what: string, fn: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const result = fn();
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  const err = validation ?? oom;
  if (err) throw new Error(`${what}: ${err.message}`);
  return result;
}
