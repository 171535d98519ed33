/**
 * Every error a user can see, in one place. Each sets `name`, which crosses the worker boundary
 * with `message` (comlink rethrows a worker's Error on the caller's side with both, not its
 * class): callers tell errors apart by `name`, never by `instanceof`. A message says what went
 * wrong and what the user can do next.
 */
import { formatBytes } from './format.ts';

// ---- the GPU -----------------------------------------------------------------------------

/** Why WebGPU cannot run the model: no `navigator.gpu`, no adapter, or a missing feature or limit. */
export type WebGPUUnavailableReason = 'no-api' | 'no-adapter' | 'insufficient';

/** No WebGPU device to run the model on. */
export class WebGPUUnavailableError extends Error {
  override name = 'WebGPUUnavailableError';
  readonly reason: WebGPUUnavailableReason;
  constructor(reason: WebGPUUnavailableReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The GPU device was lost (driver reset, another tab's crash, the OS reclaiming memory). */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

// ---- the model file ----------------------------------------------------------------------

export interface ModelFormatErrorDetails {
  /** What was wrong, e.g. `n_kv`, `kv 3 "general.name" type`, `tensor info 12 "x" dims`. */
  field?: string;
  /** Byte offset in the file where that field starts. */
  offset?: number;
}

/** The file is not a GGUF we can run: malformed, truncated, or describing a model we do not support. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
  readonly field?: string;
  readonly offset?: number;
  constructor(message: string, details: ModelFormatErrorDetails = {}) {
    super(message);
    this.field = details.field;
    this.offset = details.offset;
  }
}

/** The bytes could not be fetched: HTTP status, a server that ignores Range, a short read. */
export class ModelSourceError extends Error {
  override name = 'ModelSourceError';
  /** HTTP status when the error came from a response. */
  readonly status?: number;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

// ---- the browser's storage ---------------------------------------------------------------

/** The browser will not give this site room for the model. Thrown before anything is stored. */
export class QuotaExceededError extends Error {
  override name = 'QuotaExceededError';
  /** Bytes still to be stored. */
  readonly neededBytes: number;
  /** Bytes the browser says this site may still use (NaN when it cannot tell). */
  readonly availableBytes: number;
  constructor(neededBytes: number, availableBytes: number, what = 'the model', options?: { cause?: unknown }) {
    super(
      `Not enough storage for ${what}: it needs ${formatBytes(neededBytes)} (${neededBytes} bytes) more, but the browser ` +
        `allows this site only ${formatBytes(availableBytes)}${Number.isFinite(availableBytes) ? ` (${availableBytes} bytes)` : ''}. ` +
        'Free some disk space or delete another stored model, then try again.',
      options,
    );
    this.neededBytes = neededBytes;
    this.availableBytes = availableBytes;
  }
}

/**
 * Why a download failed:
 * - `http-status`: the server answered with an error status (see `status`)
 * - `network`: the connection failed or dropped (after the allowed retries)
 * - `stalled`: no bytes arrived for too long (after the allowed retries)
 * - `short-body`: the body ended before the bytes the server announced
 * - `long-body`: the body held more bytes than the server announced
 * - `bad-length`: Content-Length disagrees with Content-Range, or is missing where needed
 * - `bad-range`: a range response for bytes we did not ask for, or no way to tell the file size
 * - `changed`: the file kept changing on the server while we downloaded it
 */
export type DownloadFailure = 'http-status' | 'network' | 'stalled' | 'short-body' | 'long-body' | 'bad-length' | 'bad-range' | 'changed';

export interface DownloadErrorDetails {
  url: string;
  reason: DownloadFailure;
  status?: number;
  /** Worth trying again (5xx, 408, 429, a dropped or stalled connection, a short body). */
  retryable?: boolean;
  cause?: unknown;
}

/** The model file could not be downloaded. Chunks stored before the failure are kept. */
export class DownloadError extends Error {
  override name = 'DownloadError';
  readonly url: string;
  readonly reason: DownloadFailure;
  /** HTTP status of the response that failed, when there was one. */
  readonly status?: number;
  readonly retryable: boolean;
  constructor(message: string, d: DownloadErrorDetails) {
    super(message, d.cause === undefined ? undefined : { cause: d.cause });
    this.url = d.url;
    this.reason = d.reason;
    this.status = d.status;
    this.retryable = d.retryable ?? false;
  }
}

/** A stored chunk is missing or no longer matches the SHA-256 recorded when it was written. */
export class CorruptChunkError extends Error {
  override name = 'CorruptChunkError';
  readonly modelId: string;
  readonly index: number;
  readonly problem: 'missing' | 'mismatch';
  constructor(modelId: string, index: number, problem: 'missing' | 'mismatch', detail = '') {
    super(
      `The stored copy of model "${modelId}" is damaged: chunk ${index} ` +
        `${problem === 'missing' ? 'is missing' : 'does not match the checksum recorded when it was stored'}${detail ? ` (${detail})` : ''}. ` +
        'Repair the download to fetch that part again, or, for a model imported from a local file, import the file again.',
    );
    this.modelId = modelId;
    this.index = index;
    this.problem = problem;
  }
}

/** No model with this id is in the store (or not all of it). */
export class ModelNotStoredError extends Error {
  override name = 'ModelNotStoredError';
  readonly modelId: string;
  constructor(modelId: string, detail = 'is not stored in this browser') {
    super(`Model "${modelId}" ${detail}. Download or import it first.`);
    this.modelId = modelId;
  }
}

/** Another tab (or another call in this one) is already writing this model. */
export class ModelBusyError extends Error {
  override name = 'ModelBusyError';
  readonly modelId: string;
  constructor(modelId: string) {
    super(`Model "${modelId}" is already being downloaded or imported, perhaps in another tab. Wait for it to finish, or close the other tab.`);
    this.modelId = modelId;
  }
}

// ---- requests to the engine --------------------------------------------------------------

/** A chat or benchmark was asked for before any model was loaded. */
export class ModelNotLoadedError extends Error {
  override name = 'ModelNotLoadedError';
  constructor(message = 'No model is loaded: load one first.') {
    super(message);
  }
}

/**
 * A request that cannot run as given (no messages, an empty prompt, a count out of range, a URL that
 * is not http(s), a model id already taken); the message names what to change.
 */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
}

/** The prompt (or prompt plus the tokens asked for) does not fit the context the model was loaded with. */
export class ContextFullError extends Error {
  override name = 'ContextFullError';
}
