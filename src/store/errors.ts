/**
 * Errors raised while getting a model into the browser's storage. Each sets `name`, which
 * survives the worker boundary (structured clone keeps `name` and `message`), and says what the
 * user can do about it.
 */

/** "2.39 GB", "512 MB", "16 KB": decimal units, as disk and browser settings show them. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'an unknown amount';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

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
export type DownloadFailure =
  | 'http-status'
  | 'network'
  | 'stalled'
  | 'short-body'
  | 'long-body'
  | 'bad-length'
  | 'bad-range'
  | 'changed';

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

/** No model with this id is in the store. */
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
