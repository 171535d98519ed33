import source from '../../shaders/rmsnorm.wgsl?raw';
import { UniformLayout } from '../gpu/uniforms.ts';
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';

/** RMSNorm over rows of x (see shaders/rmsnorm.wgsl for bindings and dispatch). */
export class RmsNormKernel {
  static readonly uniforms = new UniformLayout([
    ['n', 'u32'],
    ['rows', 'u32'],
    ['eps', 'f32'],
  ] as const);

  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;

  constructor(
    readonly device: GPUDevice,
    readonly workgroupSize = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup),
  ) {
    if (workgroupSize & (workgroupSize - 1)) throw new Error(`rmsnorm: workgroup size ${workgroupSize} is not a power of two`);
    this.layout = device.createBindGroupLayout({
      label: 'rmsnorm',
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ],
    });
    this.compiled = compileCompute(device, {
      label: 'rmsnorm',
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: {
        module: device.createShaderModule({ label: 'rmsnorm', code: source }),
        entryPoint: 'main',
        constants: { WG: workgroupSize },
      },
    });
  }

  get pipeline(): GPUComputePipeline {
    return this.compiled.get();
  }

  /** Uniform buffer for a fixed (n, rows, eps); made once at load, rewritten only if rows change. */
  createParams(n: number, rows: number, eps: number): GPUBuffer {
    const buf = this.device.createBuffer({
      label: 'rmsnorm.params',
      size: RmsNormKernel.uniforms.byteSize,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(buf, 0, RmsNormKernel.uniforms.pack({ n, rows, eps }));
    return buf;
  }

  bind(x: GPUBuffer, w: GPUBuffer, y: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      label: 'rmsnorm',
      layout: this.layout,
      entries: [
        { binding: 0, resource: { buffer: x } },
        { binding: 1, resource: { buffer: w } },
        { binding: 2, resource: { buffer: y } },
        { binding: 3, resource: { buffer: params } },
      ],
    });
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(rows);
  }
}

/**
 * One-off run for tests and the in-app self-test: uploads x and w, runs once, reads y back.
 * Not for the hot path (allocates and submits on its own).
 */
export async function runRmsNorm(
  kernel: RmsNormKernel,
  x: Float32Array,
  w: Float32Array,
  rows: number,
  n: number,
  eps: number,
): Promise<Float32Array> {
  const { device } = kernel;
  const make = (data: Float32Array | number, label: string) => {
    const size = typeof data === 'number' ? data : data.byteLength;
    const buf = device.createBuffer({ label, size: Math.max(16, size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    if (typeof data !== 'number') device.queue.writeBuffer(buf, 0, data as Float32Array<ArrayBuffer>);
    return buf;
  };
  const xb = make(x, 'x');
  const wb = make(w, 'w');
  const yb = make(rows * n * 4, 'y');
  const params = kernel.createParams(n, rows, eps);
  const staging = device.createBuffer({ label: 'y.read', size: Math.max(16, rows * n * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder({ label: 'rmsnorm.once' });
  const pass = enc.beginComputePass();
  kernel.encode(pass, kernel.bind(xb, wb, yb, params), rows);
  pass.end();
  enc.copyBufferToBuffer(yb, 0, staging, 0, rows * n * 4);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const y = new Float32Array(staging.getMappedRange().slice(0, rows * n * 4));
  staging.unmap();
  for (const b of [xb, wb, yb, params, staging]) b.destroy();
  return y;
}
