/**
 * How the next token is drawn from the logits. A generation takes these settings complete; the
 * chat API's defaults are filled in once, where a request enters the worker (src/worker/session.ts).
 */
export interface Sampling {
  /** 0 picks the likeliest token (greedy); otherwise the logits are divided by it. */
  temperature: number;
  /** Keep only the k likeliest tokens; 0 keeps all. */
  topK: number;
  /** Keep the likeliest tokens whose probabilities add up to top-p; 1 keeps all. */
  topP: number;
  /** llama.cpp's repeat_penalty over the recent tokens; 1 is off. */
  repetitionPenalty: number;
  /** A u32; with the step number it fixes every draw. */
  seed: number;
}

/** Always the likeliest token. */
export const GREEDY: Readonly<Sampling> = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 };

/** What a chat request that leaves a setting out gets (the UI's settings panel starts from these too). */
/** Recent ids (the prompt's last ones, then the reply's) the repetition penalty counts: the engine's sampler window. */
export const PENALTY_WINDOW = 64;

export const CHAT_DEFAULTS = { temperature: 0.7, topP: 0.95, topK: 40, repetitionPenalty: 1.1, maxTokens: 512 } as const;
