/**
 * The models the app offers (DESIGN.md section 2, "Model registry"): plain data and pure functions,
 * shared by the store (what to download, under which id) and the UI (what the picker shows). An
 * entry says where a GGUF lives and what we expect of it; the file itself is the authority: its
 * header is parsed and checked (architecture, shapes) before a download is marked complete.
 * The registry offers the Phi family in GGUF files of architecture `phi3` (Phi-4-mini's too).
 */
import { InvalidRequestError } from './errors.ts';
import type { KvShape } from './kv.ts';

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
   * The shapes the KV cache's size follows (`<arch>.block_count`, `head_count_kv`, head size), when
   * known before download: the GPU memory estimate at each context and KV type (common/kv.ts).
   * Once the file is stored, its header's shapes are used.
   */
  kv?: KvShape;
  license?: string;
  /** Quantization as the publisher names it, e.g. "Q4_K_M". */
  quant?: string;
  /** Where a person can read about the model. */
  homepage?: string;
  /** What the model is good for, in a sentence, for the picker. */
  description?: string;
}

/** Hugging Face's address of a file in a repository's main branch. */
function hf(repo: string, file: string): Pick<ModelEntry, 'id' | 'url' | 'homepage'> {
  return { id: `${repo}/${file}`, url: `https://huggingface.co/${repo}/resolve/main/${file}`, homepage: `https://huggingface.co/${repo}` };
}

// Sizes are the publisher's listings (the others to 10 MB): the UI says "about"; the exact size
// comes from the server's Content-Range. The KV shapes are the model cards' (layers, KV heads,
// head size); the cache's bytes per position follow from them (common/kv.ts kvBytesPerToken).
/** Phi-3-mini and Phi-3.5-mini: 32 layers, 32 KV heads (no grouping) of 96. */
const MINI_KV: KvShape = { nLayers: 32, nKvHeads: 32, headDim: 96 };
/** Phi-4-mini: 32 layers, 8 KV heads (grouped-query attention, 24 query heads) of 128. */
const PHI4_MINI_KV: KvShape = { nLayers: 32, nKvHeads: 8, headDim: 128 };
/** Phi-3-medium: 40 layers, 10 KV heads (40 query heads) of 128. */
const MEDIUM_KV: KvShape = { nLayers: 40, nKvHeads: 10, headDim: 128 };

const PHI3_MINI_4K_Q4: ModelEntry = {
  ...hf('microsoft/Phi-3-mini-4k-instruct-gguf', 'Phi-3-mini-4k-instruct-q4.gguf'),
  displayName: 'Phi-3 mini 4k instruct',
  description: "Microsoft's own 4-bit build of the 3.8B-parameter Phi-3-mini: quick answers, writing and code help in English, on most GPUs.",
  approxBytes: 2_393_231_360,
  architecture: 'phi3',
  contextLength: 4096,
  kv: MINI_KV,
  license: 'MIT',
  quant: 'Q4_K_M',
};

export const MODEL_REGISTRY: readonly ModelEntry[] = [
  PHI3_MINI_4K_Q4,
  {
    ...hf('bartowski/Phi-3.1-mini-128k-instruct-GGUF', 'Phi-3.1-mini-128k-instruct-Q4_K_M.gguf'),
    displayName: 'Phi-3 mini 128k instruct',
    description: 'The mid-2024 update of Phi-3-mini, trained for contexts up to 128K tokens: long documents and long conversations at the same size and speed.',
    approxBytes: 2_390_000_000,
    architecture: 'phi3',
    contextLength: 131_072,
    kv: MINI_KV,
    license: 'MIT',
    quant: 'Q4_K_M',
  },
  {
    ...hf('bartowski/Phi-3.5-mini-instruct-GGUF', 'Phi-3.5-mini-instruct-Q4_K_M.gguf'),
    displayName: 'Phi-3.5 mini instruct',
    description: "Phi-3-mini's successor: better at reasoning and at languages other than English, same size, 128K-token context.",
    approxBytes: 2_390_000_000,
    architecture: 'phi3',
    contextLength: 131_072,
    kv: MINI_KV,
    license: 'MIT',
    quant: 'Q4_K_M',
  },
  {
    ...hf('bartowski/microsoft_Phi-4-mini-instruct-GGUF', 'microsoft_Phi-4-mini-instruct-Q4_K_M.gguf'),
    displayName: 'Phi-4 mini instruct',
    description: 'The newest small Phi: strongest of the minis at math, reasoning and code, with a 200K-token vocabulary; a long context takes a third of the GPU memory it takes the other minis.',
    approxBytes: 2_490_000_000,
    architecture: 'phi3',
    contextLength: 131_072,
    kv: PHI4_MINI_KV,
    license: 'MIT',
    quant: 'Q4_K_M',
  },
  {
    ...hf('bartowski/Phi-3-medium-4k-instruct-GGUF', 'Phi-3-medium-4k-instruct-Q4_K_M.gguf'),
    displayName: 'Phi-3 medium 4k instruct',
    description: '14B parameters: clearly better answers than the minis, about 3.5 times slower (3.6 times the bytes to read per token); for a GPU with 10 GB of memory or more.',
    approxBytes: 8_570_000_000,
    architecture: 'phi3',
    contextLength: 4096,
    kv: MEDIUM_KV,
    license: 'MIT',
    quant: 'Q4_K_M',
  },
  {
    ...hf('bartowski/Phi-3-medium-128k-instruct-GGUF', 'Phi-3-medium-128k-instruct-Q4_K_M.gguf'),
    displayName: 'Phi-3 medium 128k instruct',
    description: 'Phi-3-medium trained for contexts up to 128K tokens: the best answers over long documents, if the GPU has the memory.',
    approxBytes: 8_560_000_000,
    architecture: 'phi3',
    contextLength: 131_072,
    kv: MEDIUM_KV,
    license: 'MIT',
    quant: 'Q4_K_M',
  },
];

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
