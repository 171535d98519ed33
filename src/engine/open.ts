/**
 * From a model's bytes to a running model, the one way the worker, the CLI and the benchmarks take:
 *
 *   readModel(src):                GGUF header -> config -> vocabulary -> tokenizer   (no GPU)
 *   openModel(device, model, ...): + the engine: weights uploaded, pipelines compiled
 *
 * The byte source stays its opener's: neither function closes it. The engine has read every weight
 * by the time openModel settles and keeps no reference to the source, so a file source may be
 * closed then, whether openModel resolved or threw.
 */
import type { ByteSource, GGUFFile } from '../model/gguf-types.ts';
import { readGGUF } from '../model/gguf.ts';
import { modelConfigFromGGUF, type ModelConfig } from '../model/config.ts';
import { vocabFromMetadata, type Vocab } from '../model/vocab.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';
import { createTokenizer } from '../model/create-tokenizer.ts';
import { GREEDY } from '../common/sampling.ts';
import { Engine, type EngineOptions } from './engine.ts';

/** A model's header, read and checked: what a prompt needs before the engine exists. */
export interface ModelFile {
  src: ByteSource;
  file: GGUFFile;
  cfg: ModelConfig;
  vocab: Vocab;
  tokenizer: TextTokenizer;
}

export interface OpenedModel extends ModelFile {
  engine: Engine;
}

export interface OpenOptions extends EngineOptions {
  /**
   * A throwaway generation of `maxTokens` greedy tokens after `promptTokens` prompt tokens, run
   * before openModel returns and then forgotten (engine.reset()): each pipeline its shapes use has
   * been dispatched once.
   */
  warmUp?: { promptTokens: number; maxTokens: number };
}

/** Parses and checks the header; throws ModelFormatError for a file this app cannot run. */
export async function readModel(src: ByteSource): Promise<ModelFile> {
  const file = await readGGUF(src);
  const cfg = modelConfigFromGGUF(file);
  const vocab = vocabFromMetadata(file.metadata);
  return { src, file, cfg, vocab, tokenizer: createTokenizer(vocab) };
}

/** Makes the engine for a read model on `device`; on failure, destroys whatever it made. */
export async function openModel(device: GPUDevice, model: ModelFile, opts: OpenOptions = {}): Promise<OpenedModel> {
  const { warmUp, ...engineOpts } = opts;
  const engine = await Engine.load(device, model.file, model.src, model.cfg, engineOpts);
  try {
    if (warmUp) {
      // Token id 1 (BOS in llama-style vocabularies); any id in the vocabulary would do.
      const id = Math.min(1, model.cfg.vocabSize - 1);
      await engine.generate(new Array<number>(warmUp.promptTokens).fill(id), { maxTokens: warmUp.maxTokens, sampling: GREEDY });
      engine.reset();
    }
  } catch (e) {
    engine.destroy();
    throw e;
  }
  return { ...model, engine };
}
