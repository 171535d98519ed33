/**
 * Adapter and device setup shared by the browser worker, Node tests and the CLI.
 *
 * We always ask for the adapter's own limits for the sizes that matter to an LLM (storage
 * binding, buffer size, workgroup storage): WebGPU's defaults (128 MiB binding, 256 MiB buffer)
 * are far below what a 2.4 GB model needs, and a device only gets what it requests.
 */
import { WebGPUUnavailableError } from '../common/errors.ts';

/** Features we use when the adapter has them; none is required. */
export const OPTIONAL_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** Limits requested at the adapter's maximum. */
export const MAX_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

export interface GpuCapabilities {
  adapter: AdapterSummary;
  features: string[];
  limits: Record<string, number>;
}

export interface OpenedDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  capabilities: GpuCapabilities;
}

/** A one-line human name for the adapter, e.g. "llvmpipe (LLVM 19.1.7, 256 bits) [mesa]". */
export function adapterName(a: AdapterSummary): string {
  const main = a.description || a.device || a.architecture || 'unknown adapter';
  const extra = [a.vendor, a.architecture].filter((s) => s && !main.toLowerCase().includes(s.toLowerCase()));
  return extra.length ? `${main} [${extra.join(', ')}]` : main;
}

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  // GPUAdapterInfo fields are getters on the prototype: copy them one by one.
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
  const summary: AdapterSummary = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean(info?.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
  };
  if (typeof info?.subgroupMinSize === 'number') summary.subgroupMinSize = info.subgroupMinSize;
  if (typeof info?.subgroupMaxSize === 'number') summary.subgroupMaxSize = info.subgroupMaxSize;
  return summary;
}

function limitsRecord(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of MAX_LIMITS) out[key] = Number(limits[key]);
  out.maxBindGroups = limits.maxBindGroups;
  out.maxUniformBufferBindingSize = limits.maxUniformBufferBindingSize;
  out.minStorageBufferOffsetAlignment = limits.minStorageBufferOffsetAlignment;
  return out;
}

export interface OpenDeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Features to leave out even when the adapter has them (tests use this to force the f32 path). */
  disableFeatures?: GPUFeatureName[];
  label?: string;
}

export async function openDevice(gpu: GPU | undefined, opts: OpenDeviceOptions = {}): Promise<OpenedDevice> {
  if (!gpu) {
    throw new WebGPUUnavailableError('no-api', 'This browser does not expose WebGPU (navigator.gpu is missing).');
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'no-adapter',
      'WebGPU is present but no GPU adapter is available (it may be disabled, blocklisted, or the driver failed).',
    );
  }
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !opts.disableFeatures?.includes(f));
  const requiredLimits: Record<string, number> = {};
  for (const key of MAX_LIMITS) requiredLimits[key] = Number(adapter.limits[key]);
  const device = await adapter.requestDevice({
    label: opts.label ?? 'phi3-engine',
    requiredFeatures: features,
    requiredLimits,
  });
  const capabilities: GpuCapabilities = {
    adapter: summarizeAdapter(adapter),
    features: [...device.features].map(String).sort(),
    limits: limitsRecord(device.limits),
  };
  return { adapter, device, capabilities };
}
