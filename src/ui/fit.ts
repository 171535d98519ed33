/**
 * Whether a model will fit this device, decided before any byte is downloaded, with the reason
 * in words when it may not.
 *
 * Two kinds of answer, because the platform gives two kinds of number:
 * - The GPU's largest buffer is a hard limit: the weights are split into buffers the device
 *   allows, but each layer's K (and V) cache is one buffer of nKvHeads x context x headDim f16
 *   values, which must fit `maxStorageBufferBindingSize` and `maxBufferSize`. A context whose
 *   cache does not is refused ('will-not-fit'); a shorter one may fit.
 * - Storage is a hard limit: `navigator.storage.estimate()` is what the browser will let this site
 *   keep, and the download would stop with QuotaExceededError past it. A model that needs more is
 *   refused ('will-not-fit') and cannot be downloaded.
 * - GPU memory has no WebGPU query. `navigator.deviceMemory` (Chrome, Edge) is the RAM rounded
 *   down to a power of two and capped at 8 GB, so it is a lower bound; and a graphics card with
 *   its own memory does not draw on RAM at all. A model that needs more than the reported RAM is
 *   only flagged ('may-not-fit'): the user may still download it, after reading why it may fail.
 *   Refusing would lock out every machine from Phi-3-medium, since no browser reports over 8 GB.
 */
import { formatBytes } from '../common/format.ts';

/** What this device says about itself; a field is absent where the browser does not say. */
export interface DeviceBudget {
  /** Bytes this site may still store (quota minus usage). */
  freeStorage?: number;
  /** `navigator.deviceMemory`: GB of RAM, rounded down to a power of two, at most 8 in Chrome. */
  deviceMemoryGB?: number;
  /** The largest buffer a shader may read or write: the smaller of the adapter's maxBufferSize and maxStorageBufferBindingSize. */
  maxBufferBytes?: number;
}

/** What one model needs at the chosen context. */
export interface ModelNeed {
  /** Bytes still to download (the file, less what a paused download has stored). */
  downloadBytes: number;
  /** Weights plus KV cache at `contextLength` (models.ts gpuBytesNeeded). */
  gpuBytes: number;
  contextLength: number;
  /** One layer's K cache at `contextLength` (src/model/config.ts kvLayerBytes), when known. */
  kvLayerBytes?: number;
}

export type FitVerdict = 'fits' | 'may-not-fit' | 'will-not-fit';

export interface Fit {
  verdict: FitVerdict;
  /** One sentence per limit the model exceeds, the hard limits first. Empty when it fits. */
  reasons: string[];
  /** What the user can do about it; empty when it fits. */
  advice: string;
}

/** The most RAM Chrome reports; a device that reports it may have any amount more. */
export const DEVICE_MEMORY_CAP_GB = 8;

/** `navigator.deviceMemory` where the browser has it (Chrome, Edge). */
export function reportedDeviceMemory(): unknown {
  return (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
}

/** The budget the browser gives: free storage from an estimate, and `navigator.deviceMemory`. */
export function deviceBudget(
  estimate: { usage?: number; quota?: number } | undefined,
  deviceMemory: unknown,
  limits?: Readonly<Record<string, number>>,
): DeviceBudget {
  const budget: DeviceBudget = {};
  const max = Math.min(limits?.maxBufferSize ?? Infinity, limits?.maxStorageBufferBindingSize ?? Infinity);
  if (Number.isFinite(max) && max > 0) budget.maxBufferBytes = max;
  if (estimate?.quota !== undefined && Number.isFinite(estimate.quota)) budget.freeStorage = Math.max(0, estimate.quota - (estimate.usage ?? 0));
  if (typeof deviceMemory === 'number' && deviceMemory > 0) budget.deviceMemoryGB = deviceMemory;
  return budget;
}

export function checkFit(need: ModelNeed, device: DeviceBudget): Fit {
  const hard: string[] = [];
  const soft: string[] = [];
  const advice: string[] = [];
  if (device.freeStorage !== undefined && need.downloadBytes > device.freeStorage) {
    hard.push(`needs about ${formatBytes(need.downloadBytes)} of storage; ${formatBytes(device.freeStorage)} free`);
    advice.push('Free some disk space, or delete a stored model (under Models), then choose it again.');
  }
  if (device.maxBufferBytes !== undefined && need.kvLayerBytes !== undefined && need.kvLayerBytes > device.maxBufferBytes) {
    advice.push('Choose a shorter context length.');
    hard.push(
      `needs buffers of ${formatBytes(need.kvLayerBytes)} to remember a ${need.contextLength}-token context; this GPU allows at most ${formatBytes(device.maxBufferBytes)} per buffer (a shorter context needs less)`,
    );
  }
  const gb = device.deviceMemoryGB;
  // deviceMemory is GiB-based (Chrome rounds the physical size down): compare in binary units.
  if (gb !== undefined && need.gpuBytes > gb * 2 ** 30) {
    const more = gb >= DEVICE_MEMORY_CAP_GB ? ` (browsers report at most ${DEVICE_MEMORY_CAP_GB} GB, so it may have more)` : '';
    soft.push(`needs about ${formatBytes(need.gpuBytes)} of GPU memory at a ${need.contextLength}-token context; this device reports ${gb} GB of RAM${more}`);
  }
  const verdict: FitVerdict = hard.length ? 'will-not-fit' : soft.length ? 'may-not-fit' : 'fits';
  if (verdict === 'may-not-fit') {
    advice.push(
      'It may still work: a graphics card with its own memory does not use this RAM, and a shorter context needs less. If it does not fit, loading it fails; delete it under Models to free the space.',
    );
  }
  return { verdict, reasons: [...hard, ...soft], advice: advice.join(' ') };
}
