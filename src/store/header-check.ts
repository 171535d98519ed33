/**
 * The last gate before a model is "ready": its GGUF header, read back from the store, must parse
 * and describe a model this app runs (readGGUF + modelConfigFromGGUF + vocabFromMetadata, the
 * same checks a load does), so an unsupported tokenizer is refused before the download completes.
 */

import { modelConfigFromGGUF } from '../model/config.ts';
import type { ModelConfig } from '../model/config.ts';
import { readGGUF } from '../model/gguf.ts';
import { vocabFromMetadata } from '../model/vocab.ts';
import type { ByteSource, GGUFFile } from '../model/gguf-types.ts';
import { headerSummary } from './manifest.ts';
import type { HeaderSummary } from './manifest.ts';

export interface CheckedHeader {
  file: GGUFFile;
  config: ModelConfig;
  header: HeaderSummary;
}

/** Throws ModelFormatError for a file we cannot run; CorruptChunkError for an unreadable chunk. */
export async function checkHeader(src: ByteSource): Promise<CheckedHeader> {
  const file = await readGGUF(src);
  const config = modelConfigFromGGUF(file);
  vocabFromMetadata(file.metadata);
  return { file, config, header: headerSummary(file, config) };
}
