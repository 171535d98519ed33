/**
 * Errors raised while reading a model. Their `name` survives the worker boundary (structured
 * clone keeps `name` and `message`), so the UI can tell a bad file from a bad connection.
 */

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
