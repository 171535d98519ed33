/**
 * The worker boundary: what the UI thread may ask the engine worker, and what comes back.
 * Types only, plus re-exports of the error classes whose `name` crosses the boundary
 * (comlink rethrows a worker's Error on the caller's side with its name and message).
 */
import type { GpuCapabilities } from '../gpu/device.ts';
import type { CompareReport } from '../util/compare.ts';

export type { GpuCapabilities, AdapterSummary } from '../gpu/device.ts';
export { WebGPUUnavailableError, DeviceLostError } from '../gpu/errors.ts';

export type CapabilitiesResult =
  | ({ ok: true } & GpuCapabilities)
  | { ok: false; reason: 'no-api' | 'no-adapter' | 'insufficient' | 'error'; message: string };

export interface KernelCheck {
  kernel: string;
  shape: string;
  /** Milliseconds for the GPU run including upload and readback. */
  ms: number;
  report: CompareReport;
}

export interface ModelCheckRequest {
  /** A GGUF file served with HTTP Range support. */
  url: string;
  promptIds: number[];
  maxTokens: number;
  topLogprobs: number;
  contextLength: number;
  slidingWindow: boolean;
}

export interface ModelCheckResult {
  adapter: string;
  tokens: { id: number; top: [number, number][] }[];
  finishReason: string;
  loadMs: number;
  prefillMs: number;
  decodeMs: number;
  dispatchesPerToken: number;
}

export interface EngineApi {
  /** Loads a model from a URL, runs greedy generation on a prompt, unloads (diagnostics, e2e). */
  checkModel(req: ModelCheckRequest): Promise<ModelCheckResult>;
  /** Adapter info, features and limits as seen from inside the worker. */
  capabilities(): Promise<CapabilitiesResult>;
  /** Runs each kernel on fixed seeded inputs and compares it with its CPU reference. */
  selfTest(): Promise<KernelCheck[]>;
}
