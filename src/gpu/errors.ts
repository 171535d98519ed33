/** Errors raised while getting a WebGPU device. Their `name` survives the worker boundary. */

export class WebGPUUnavailableError extends Error {
  override name = 'WebGPUUnavailableError';
  /** Why: no `navigator.gpu`, no adapter, or a missing feature/limit. */
  readonly reason: 'no-api' | 'no-adapter' | 'insufficient';
  constructor(reason: WebGPUUnavailableError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}
