/**
 * The models the app offers (DESIGN.md section 2, "Model registry"): plain data and pure functions,
 * shared by the store (what to download, under which id) and the UI (what the picker shows). An
 * entry says where a GGUF lives and what we expect of it; the file itself is the authority: its
 * header is parsed and checked (architecture, shapes) before a download is marked complete.
 */
import { InvalidRequestError } from './errors.ts';

export interface ModelEntry {
  /** Key of the model in the weight store. Stable, so a download resumes after a reload. */
  id: string;
  displayName: string;
  url: string;
  /** Exact file size in bytes, when known; lets the quota check run before any request. */
  bytes?: number;
  /** Rough size for the UI before the server has told us the exact one. */
  approxBytes?: number;
  /** SHA-256 of the whole file, lowercase hex, when known. */
  sha256?: string;
  /** Expected `general.architecture`. */
  architecture: string;
  /** Trained context length (`<arch>.context_length`), when known before download. */
  contextLength?: number;
  /**
   * KV cache bytes per context position, when known before download (the GPU memory estimate);
   * once the file is stored, its header's value (src/model/config.ts kvBytesPerToken) is used.
   */
  kvBytesPerToken?: number;
  license?: string;
  /** Quantization as the publisher names it, e.g. "Q4_K_M". */
  quant?: string;
  /** Where a person can read about the model. */
  homepage?: string;
}

const PHI3_MINI_4K_Q4: ModelEntry = {
  id: 'microsoft/Phi-3-mini-4k-instruct-gguf/Phi-3-mini-4k-instruct-q4.gguf',
  displayName: 'Phi-3 mini 4k instruct',
  url: 'https://huggingface.co/microsoft/Phi-3-mini-4k-instruct-gguf/resolve/main/Phi-3-mini-4k-instruct-q4.gguf',
  // The publisher lists 2.39 GB; the exact size comes from the server's Content-Range.
  approxBytes: 2_393_231_360,
  architecture: 'phi3',
  contextLength: 4096,
  // 32 layers x 2 (K, V) x 32 KV heads x 96 (head size) x 2 bytes (f16); src/model/config.test.ts checks it
  kvBytesPerToken: 393_216,
  license: 'MIT',
  quant: 'Q4_K_M',
  homepage: 'https://huggingface.co/microsoft/Phi-3-mini-4k-instruct-gguf',
};

export const MODEL_REGISTRY: readonly ModelEntry[] = [PHI3_MINI_4K_Q4];

/** The context length a load uses unless asked for another (always capped at the model's own). */
export const DEFAULT_CONTEXT_LENGTH = 4096;
export const DEFAULT_MODEL: ModelEntry = PHI3_MINI_4K_Q4;

export function findModel(id: string): ModelEntry | undefined {
  return MODEL_REGISTRY.find((e) => e.id === id);
}

/**
 * An entry for any GGUF by URL (`?model=<url>`, or typed by the user). A URL of a registry model
 * gives that entry. Relative URLs resolve against `base` (the page's location in the browser).
 * Throws InvalidRequestError for a URL that is not http(s).
 */
export function customModelEntry(url: string, base?: string): ModelEntry {
  let u: URL;
  try {
    u = new URL(url, base ?? (globalThis as { location?: { href: string } }).location?.href);
  } catch {
    throw new InvalidRequestError(`"${url}" is not a valid URL: give the full address of a .gguf file.`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new InvalidRequestError(`"${url}" is not an http(s) URL: give the address of a .gguf file, or import a local file.`);
  }
  u.hash = '';
  const href = u.href;
  const known = MODEL_REGISTRY.find((e) => e.url === href);
  if (known) return known;
  const last = u.pathname.split('/').filter(Boolean).pop() ?? '';
  let file = last;
  try {
    file = decodeURIComponent(last);
  } catch {
    // a malformed %-escape: show it as written
  }
  return {
    id: `url:${href}`,
    displayName: file || u.host,
    url: href,
    architecture: 'phi3',
  };
}
