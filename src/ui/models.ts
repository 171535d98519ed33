/**
 * What the model picker shows for the default model.
 *
 * A copy of `DEFAULT_MODEL` in src/store/registry.ts, which ui/ may not import: keep the two in
 * step until the registry entry is exposed through src/worker/protocol.ts.
 */
export const DEFAULT_MODEL_CARD = {
  displayName: 'Phi-3 mini 4k instruct',
  quant: 'Q4_K_M',
  url: 'https://huggingface.co/microsoft/Phi-3-mini-4k-instruct-gguf/resolve/main/Phi-3-mini-4k-instruct-q4.gguf',
  approxBytes: 2_393_231_360,
  license: 'MIT',
  homepage: 'https://huggingface.co/microsoft/Phi-3-mini-4k-instruct-gguf',
  contextLength: 4096,
  /**
   * GPU memory while chatting: the repacked weights (about the file size) plus the f16 KV cache,
   * 32 layers x 2 (K, V) x 32 heads x 96 dims x 4096 positions x 2 bytes = 1.61 GB.
   */
  gpuBytes: 2_393_231_360 + 1_610_612_736,
} as const;

/** The context length the chat loads models with (the worker caps it at the model's own). */
export const CHAT_CONTEXT_LENGTH = 4096;
