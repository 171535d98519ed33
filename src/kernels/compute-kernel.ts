/**
 * What every kernel class is made of: a bind group layout of buffer bindings, one compute
 * pipeline over it (compiled now or in the background: src/gpu/pipelines.ts), bind groups, the
 * dispatch, and uniform buffers packed by a UniformLayout. A kernel class adds its shapes, its
 * checks and the meaning of its bindings; the label names the pipeline, its shader module, its
 * layout and its bind groups (dispatch profiles are kept per pipeline label).
 */
import { compileCompute, type CompiledPipeline } from '../gpu/pipelines.ts';
import type { UniformLayout } from '../gpu/uniforms.ts';
import { weightBindEntries, weightLayoutEntries, type GpuWeight, type WeightFormat } from './weight-formats.ts';

/** Layout entries for buffer bindings first, first + 1, ... of these types. */
export function bufferLayout(first: number, ...types: GPUBufferBindingType[]): GPUBindGroupLayoutEntry[] {
  return types.map((type, i) => ({ binding: first + i, visibility: GPUShaderStage.COMPUTE, buffer: { type } }));
}

/** Bind group entries for these buffers at bindings first, first + 1, ... */
export function bufferEntries(first: number, ...buffers: GPUBuffer[]): GPUBindGroupEntry[] {
  return buffers.map((buffer, i) => ({ binding: first + i, resource: { buffer } }));
}

export interface KernelSpec {
  label: string;
  /** Buffer types of bindings 0, 1, ... in order, or the layout entries written out. */
  bindings: readonly (GPUBufferBindingType | GPUBindGroupLayoutEntry)[];
  /** The whole WGSL module; its entry point is `main`. */
  code: string;
  /** Values of the module's `override` constants. */
  constants?: Record<string, number>;
}

export class ComputeKernel {
  readonly label: string;
  readonly layout: GPUBindGroupLayout;
  private readonly compiled: CompiledPipeline;

  constructor(
    readonly device: GPUDevice,
    { label, bindings, code, constants = {} }: KernelSpec,
  ) {
    this.label = label;
    const entries = bindings.map((b, i) => (typeof b === 'string' ? bufferLayout(i, b)[0] : b));
    this.layout = device.createBindGroupLayout({ label, entries });
    this.compiled = compileCompute(device, {
      label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: { module: device.createShaderModule({ label, code }), entryPoint: 'main', constants },
    });
  }

  /** Throws while the pipeline is still compiling in the background. */
  get pipeline(): GPUComputePipeline {
    return this.compiled.get();
  }

  /** A bind group of these buffers at bindings 0, 1, ... */
  bind(...buffers: GPUBuffer[]): GPUBindGroup {
    return this.group(bufferEntries(0, ...buffers));
  }

  /** A bind group of entries written out (bindings that are not 0, 1, ... in order). */
  group(entries: GPUBindGroupEntry[]): GPUBindGroup {
    return this.device.createBindGroup({ label: this.label, layout: this.layout, entries });
  }

  dispatch(pass: GPUComputePassEncoder, group: GPUBindGroup, x: number, y = 1, z = 1): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(x, y, z);
  }
}

/**
 * A kernel over a repacked weight of one format: bindings 0 and 1 the weight (weight-formats.ts),
 * 2 its input, 3 its output, 4 its params, then `extra` from 5 on.
 */
export class WeightKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    readonly format: WeightFormat,
    { extra = [], ...spec }: Omit<KernelSpec, 'bindings'> & { extra?: GPUBufferBindingType[] },
  ) {
    super(device, { ...spec, bindings: [...weightLayoutEntries(format), ...bufferLayout(2, 'read-only-storage', 'storage', 'uniform', ...extra)] });
  }

  bindWeight(w: GpuWeight, input: GPUBuffer, output: GPUBuffer, params: GPUBuffer, ...extra: GPUBuffer[]): GPUBindGroup {
    if (w.format !== this.format) throw new Error(`${this.label}: got a ${w.format} weight`);
    return this.group([...weightBindEntries(w), ...bufferEntries(2, input, output, params, ...extra)]);
  }
}

/** A uniform buffer for `layout`, written with `values` when given. */
export function createUniform<K extends string>(device: GPUDevice, layout: UniformLayout<K>, label: string, values?: Record<K, number>): GPUBuffer {
  const buffer = device.createBuffer({ label, size: layout.byteSize, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  if (values) writeUniform(device, buffer, layout, values);
  return buffer;
}

export function writeUniform<K extends string>(device: GPUDevice, buffer: GPUBuffer, layout: UniformLayout<K>, values: Record<K, number>): void {
  device.queue.writeBuffer(buffer, 0, layout.pack(values));
}
