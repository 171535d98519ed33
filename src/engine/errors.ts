/** Engine errors; their `name` survives the worker boundary. */

export class ContextFullError extends Error {
  override name = 'ContextFullError';
}

export class AbortedError extends Error {
  override name = 'AbortError';
}
