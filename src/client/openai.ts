/**
 * The app-facing API in the OpenAI chat-completions shape, over the engine worker:
 *
 *   const engine = createChatEngine();
 *   await engine.load({ kind: 'url', url });
 *   for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) …
 *
 * Streaming uses one comlink-proxied callback for the whole reply (a one-way message per token,
 * never a round trip); chunks are queued here and handed out by an async iterator. Aborting the
 * signal stops generation in the worker after the current step.
 */
import * as Comlink from 'comlink';
import type { BenchReport, BenchRequest, ChatDelta, ChatRequest, ChatResult, EngineApi, FinishReason, InstallSource, LoadProgress, LoadRequest, StoredModel } from '../worker/protocol.ts';
import { createEngineClient, type EngineClient } from './engine-client.ts';

export interface CreateParams extends ChatRequest {
  stream?: boolean;
  signal?: AbortSignal;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: 'assistant'; content?: string }; logprobs?: { top: [number, number][] } | null; finish_reason: FinishReason | null }[];
  /** On the last chunk only. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cached_prompt_tokens: number };
  /** On the last chunk only: prefill and decode speed of this reply. */
  timing?: ChatResult['timing'];
  /**
   * Not in OpenAI's API. On the last chunk only, when the conversation was longer than the
   * context: the model saw the system messages and the newest whole turns; the
   * `dropped_messages` oldest other messages (`dropped_tokens` prompt tokens) were left out of
   * the `context_length`-token context.
   */
  truncated?: Truncated;
}

export interface Truncated {
  dropped_messages: number;
  dropped_tokens: number;
  context_length: number;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason }[];
  usage: NonNullable<ChatCompletionChunk['usage']>;
  timing: ChatResult['timing'];
  /** As on the last chunk of a stream: what was left out of a conversation longer than the context. */
  truncated?: Truncated;
}

type Remote = Pick<Comlink.Remote<EngineApi>, 'chat' | 'abort'>;

let counter = 0;

/** Streams one reply as chunks: the role first, then one per delta, then the finish reason with usage and timing. */
function streamChat(api: Remote, params: CreateParams, model: string): AsyncIterable<ChatCompletionChunk> {
  const id = `chatcmpl-local-${Date.now().toString(36)}-${++counter}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null, extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  });
  const queue: ChatCompletionChunk[] = [chunk({ role: 'assistant', content: '' }, null)];
  let wake: (() => void) | undefined;
  let done = false;
  let failure: unknown;
  const push = (c: ChatCompletionChunk) => {
    queue.push(c);
    wake?.();
  };
  const { stream: _s, signal, ...request } = params;
  const onAbort = () => void api.abort();
  signal?.addEventListener('abort', onAbort);
  if (signal?.aborted) onAbort();
  api
    .chat(
      request,
      Comlink.proxy((d: ChatDelta) => {
        const c = chunk({ content: d.text }, null);
        if (d.top) c.choices[0].logprobs = { top: d.top };
        push(c);
      }),
    )
    .then(
      (r) =>
        push(
          chunk({}, r.finishReason, {
            usage: { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens, cached_prompt_tokens: r.usage.cachedPromptTokens },
            timing: r.timing,
            ...(r.truncated ? { truncated: { dropped_messages: r.truncated.droppedMessages, dropped_tokens: r.truncated.droppedTokens, context_length: r.truncated.contextLength } } : {}),
          }),
        ),
      (e: unknown) => {
        failure = e;
        wake?.();
      },
    )
    .finally(() => {
      done = true;
      signal?.removeEventListener('abort', onAbort);
      wake?.();
    });
  return {
    async *[Symbol.asyncIterator]() {
      while (true) {
        if (queue.length) {
          yield queue.shift() as ChatCompletionChunk;
          continue;
        }
        if (failure) throw failure;
        if (done) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    },
  };
}

export interface ChatEngine {
  client: EngineClient;
  /** Downloads (resumable) or imports a model into IndexedDB. */
  install(source: InstallSource, onProgress?: (p: LoadProgress) => void): Promise<StoredModel>;
  /** Stops a running install (what was stored stays; installing again resumes). */
  cancelInstall(): Promise<void>;
  listModels(): Promise<StoredModel[]>;
  deleteModel(id: string): Promise<void>;
  load(req: LoadRequest, onProgress?: (p: LoadProgress) => void): ReturnType<EngineApi['load']>;
  chat: {
    completions: {
      create(params: CreateParams & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(params: CreateParams & { stream?: false }): Promise<ChatCompletion>;
    };
  };
  stats(): ReturnType<EngineApi['stats']>;
  unload(): Promise<void>;
  /** Loads an installed model and measures prefill, decode, bandwidth and per-kernel GPU time. */
  bench(req: BenchRequest, onPhase?: (phase: string) => void): Promise<BenchReport>;
}

export function createChatEngine(client: EngineClient = createEngineClient()): ChatEngine {
  let model = 'phi3';
  const api = client.api;
  async function create(params: CreateParams): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    const stream = streamChat(api, params, model);
    if (params.stream) return stream;
    let content = '';
    let last: ChatCompletionChunk | undefined;
    for await (const c of stream) {
      content += c.choices[0].delta.content ?? '';
      last = c;
    }
    if (!last?.usage || !last.timing) throw new Error('chat: the engine ended without a result');
    return {
      id: last.id,
      object: 'chat.completion',
      created: last.created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: last.choices[0].finish_reason ?? 'stop' }],
      usage: last.usage,
      timing: last.timing,
      ...(last.truncated ? { truncated: last.truncated } : {}),
    };
  }
  return {
    client,
    install: (source, onProgress) => api.install(source, onProgress ? Comlink.proxy(onProgress) : undefined),
    cancelInstall: () => api.cancelInstall(),
    listModels: () => api.listModels(),
    deleteModel: (id) => api.deleteModel(id),
    async load(req, onProgress) {
      const loaded = await api.load(req, onProgress ? Comlink.proxy(onProgress) : undefined);
      model = loaded.name;
      return loaded;
    },
    chat: { completions: { create: create as ChatEngine['chat']['completions']['create'] } },
    stats: () => api.stats(),
    unload: () => api.unload(),
    bench: (req, onPhase) => api.bench(req, onPhase ? Comlink.proxy(onPhase) : undefined),
  };
}
