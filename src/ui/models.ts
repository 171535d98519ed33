import { DEFAULT_MODEL } from '../worker/protocol.ts';

/** The context length the chat loads models with (the worker caps it at the model's own). */
export const CHAT_CONTEXT_LENGTH = 4096;

/**
 * GPU memory a phi3 model needs while chatting: the weights (about the file size) plus the f16
 * KV cache, layers x 2 (K, V) x kvHeads x headDim x positions x 2 bytes; Phi-3-mini at 4096
 * positions: 32 x 2 x 32 x 96 x 4096 x 2 = 1.61 GB.
 */
export function gpuBytesNeeded(fileBytes: number, contextLength: number, shape = { layers: 32, kvHeads: 32, headDim: 96 }): number {
  return fileBytes + shape.layers * 2 * shape.kvHeads * shape.headDim * contextLength * 2;
}

/** What the model picker shows for the default model (the registry's entry). */
export const DEFAULT_MODEL_CARD = {
  displayName: DEFAULT_MODEL.displayName,
  quant: DEFAULT_MODEL.quant ?? '',
  url: DEFAULT_MODEL.url,
  approxBytes: DEFAULT_MODEL.bytes ?? DEFAULT_MODEL.approxBytes ?? 0,
  license: DEFAULT_MODEL.license ?? 'see the model page',
  homepage: DEFAULT_MODEL.homepage ?? DEFAULT_MODEL.url,
  contextLength: Math.min(DEFAULT_MODEL.contextLength ?? CHAT_CONTEXT_LENGTH, CHAT_CONTEXT_LENGTH),
  gpuBytes: gpuBytesNeeded(DEFAULT_MODEL.bytes ?? DEFAULT_MODEL.approxBytes ?? 0, Math.min(DEFAULT_MODEL.contextLength ?? CHAT_CONTEXT_LENGTH, CHAT_CONTEXT_LENGTH)),
} as const;
