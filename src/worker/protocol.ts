/**
 * The worker boundary: what the UI thread may ask the engine worker, and what comes back. Types
 * only (eslint.config.js holds it to that): the UI and client import nothing else from the
 * worker's side. Errors cross by `name` and `message`; their classes are in src/common/errors.ts.
 */
import type { GpuCapabilities } from '../gpu/device.ts';
import type { CompareReport } from '../util/compare.ts';
import type { BenchMeasurement } from '../engine/bench.ts';
import type { FinishReason } from '../engine/engine.ts';
import type { TuningReport } from '../engine/tune.ts';
import type { ChatRole } from '../model/chat-template.ts';
import type { WebGPUUnavailableReason } from '../common/errors.ts';
import type { KvShape, KvType } from '../common/kv.ts';

export type { GpuCapabilities, AdapterSummary } from '../gpu/device.ts';
export type { BenchMeasurement, KernelProfile, ContextDecode, PrefillRun, GemmTime, DispatchBubbles } from '../engine/bench.ts';
export type { KindTime } from '../engine/profile.ts';
export type { TuningReport };
export type { FinishReason, ChatRole };
export type { KvShape, KvType };

export type CapabilitiesResult =
  | ({ ok: true } & GpuCapabilities)
  | { ok: false; reason: WebGPUUnavailableReason | 'error'; message: string };

export interface KernelCheck {
  kernel: string;
  shape: string;
  /** Milliseconds for the GPU run including upload and readback. */
  ms: number;
  report: CompareReport;
}

export interface ModelCheckRequest {
  /** A GGUF file served with HTTP Range support. */
  url: string;
  promptIds: number[];
  maxTokens: number;
  topLogprobs: number;
  contextLength: number;
  slidingWindow: boolean;
}

export interface ModelCheckResult {
  adapter: string;
  tokens: { id: number; top: [number, number][] }[];
  finishReason: FinishReason;
  loadMs: number;
  prefillMs: number;
  decodeMs: number;
  dispatchesPerToken: number;
}

/** The OpenAI chat-completions request fields we honour. */
export interface ChatRequest {
  messages: { role: ChatRole; content: string }[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  /** Repetition penalty (llama.cpp `repeat_penalty`); 1 = off. */
  repetition_penalty?: number;
  seed?: number;
  /** Extra stop strings (the model's own stop tokens always apply). */
  stop?: string | string[];
  /** Top logprobs per token, 0..20. */
  top_logprobs?: number;
}

/** One streamed piece of the reply. */
export interface ChatDelta {
  text: string;
  tokenId: number;
  top?: [number, number][];
}

export interface ChatResult {
  text: string;
  /** The engine's reason; 'stop' also when one of the request's stop strings ended the reply. */
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number; cachedPromptTokens: number };
  timing: { prefillMs: number; decodeMs: number; prefillTokPerS: number; decodeTokPerS: number };
  /**
   * Present when the conversation did not fit the context with room for the reply
   * (src/worker/context-window.ts): the model saw the system messages and the newest whole turns;
   * the `droppedMessages` oldest non-system messages, `droppedTokens` prompt tokens, were left out
   * of the `contextLength`-token context.
   */
  truncated?: { droppedMessages: number; droppedTokens: number; contextLength: number };
}

/**
 * `stored`: a model installed in IndexedDB (no network); `url`: read straight from a Range-capable URL.
 * `contextLength`: positions of the KV cache (default DEFAULT_CONTEXT_LENGTH, src/common/catalog.ts), capped at the model's own.
 */
export type LoadRequest = ({ kind: 'stored'; id: string } | { kind: 'url'; url: string }) & {
  contextLength?: number;
  /**
   * The kernel plan: 'auto' (default) reuses this adapter's stored plan, or tunes at this load on
   * a real GPU (a CPU emulator keeps its hand-tuned table); 'retune' tunes now and stores the
   * result; 'table' uses the hand-tuned table.
   */
  kernels?: 'auto' | 'retune' | 'table';
  /**
   * How the KV cache stores K and V (default 'f16'). The UI chooses it (src/ui/models.ts kvChoice);
   * a model whose shape cannot hold it is refused with InvalidRequestError.
   */
  kvType?: KvType;
};

/** Where to install a model from: a URL (download with resume) or a local .gguf file. */
export type InstallSource = { kind: 'url'; url: string; displayName?: string; expectedBytes?: number } | { kind: 'file'; file: File };

export interface StoredModel {
  id: string;
  displayName: string;
  bytes: number;
  storedBytes: number;
  complete: boolean;
  source: 'url' | 'file';
  /** The download URL of a URL-installed model (to resume an incomplete download). */
  url?: string;
  architecture?: string;
  contextLength?: number;
  /** The KV cache's shape, from the stored header (or the catalog), when known: its size at any context and KV type (common/kv.ts). */
  kv?: KvShape;
}

export interface LoadProgress {
  phase: 'checking' | 'downloading' | 'verifying' | 'converting' | 'storing' | 'uploading' | 'tuning' | 'compiling';
  message?: string;
  /** 'tuning': kernel roles tuned so far, of `steps`. */
  step?: number;
  steps?: number;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last few seconds, when known. */
  rate?: number;
  etaSeconds?: number;
}

export interface LoadedModel {
  name: string;
  architecture: string;
  contextLength: number;
  weightBytes: number;
  /** KV cache bytes per context position in `kvType` (common/kv.ts kvBytesPerToken). */
  kvBytesPerToken: number;
  /** How the KV cache stores K and V. */
  kvType: KvType;
  /** The whole KV cache: kvBytesPerToken x contextLength. */
  kvBytes: number;
  /** The KV cache's shape. */
  kv: KvShape;
  loadMs: number;
  /** The kernel plan in use and how it was chosen. */
  tuning: TuningReport;
}

export interface EngineStats {
  loaded: boolean;
  cachedTokens: number;
  prefillTokens: number;
  decodeSteps: number;
  dispatchesPerToken: number;
  /** GPU device losses survived (each followed by a reload of the model). */
  deviceLosses: number;
}

/** Benchmark on an installed model (loaded fresh, so the load time is measured too). */
export interface BenchRequest {
  model: LoadRequest;
  promptTokens: number;
  decodeTokens: number;
  /** Decode steps to profile per kernel kind and GEMV role (0 = none; needs timestamp-query). */
  profileSteps?: number;
  /** Sweep streaming-read configurations for the roofline (default true). */
  streamSweep?: boolean;
  /** Rounds of (decode, streaming reads) the medians are over (default 3). */
  rooflineRounds?: number;
  /** Context positions to measure decode at (each within the loaded context, else skipped with the reason). */
  contexts?: number[];
  /** Tokens decoded at each context (default 8). */
  contextDecodeTokens?: number;
  /** Prompt lengths to measure prefill at. */
  prefillLengths?: number[];
}

export interface BenchReport extends BenchMeasurement {
  model: string;
  adapter: string;
  capabilities: GpuCapabilities;
  userAgent: string;
  /** Context length the model was loaded with. */
  contextLength: number;
  /** Reading the weights (IndexedDB or URL), uploading them and compiling every pipeline. */
  loadMs: number;
  /** The kernel plan the measurement ran with. */
  tuning: TuningReport;
}

export interface EngineApi {
  /** Downloads (resuming any earlier attempt) or imports a model into IndexedDB; returns its id. */
  install(source: InstallSource, onProgress?: (p: LoadProgress) => void): Promise<StoredModel>;
  /** Stops the running install; chunks stored so far stay, so installing again resumes. */
  cancelInstall(): Promise<void>;
  listModels(): Promise<StoredModel[]>;
  deleteModel(id: string): Promise<void>;
  /** Loads a model (replacing any loaded one); progress through one proxied callback. */
  load(req: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel>;
  /** Generates a reply; each token's text goes to `onDelta` (one message per token, no round trip). */
  chat(req: ChatRequest, onDelta?: (d: ChatDelta) => void): Promise<ChatResult>;
  /** Stops the running chat after the current step. */
  abort(): Promise<void>;
  unload(): Promise<void>;
  stats(): Promise<EngineStats>;
  /** Diagnostics: destroys the GPU device to exercise recovery from a device loss. */
  loseDevice(): Promise<void>;
  /** Loads a model from a URL, runs greedy generation on a prompt, unloads (diagnostics, e2e). */
  checkModel(req: ModelCheckRequest): Promise<ModelCheckResult>;
  /** Adapter info, features and limits as seen from inside the worker. */
  capabilities(): Promise<CapabilitiesResult>;
  /** Runs each kernel on fixed seeded inputs and compares it with its CPU reference. */
  selfTest(): Promise<KernelCheck[]>;
  /** Loads the model (replacing any loaded one; it stays loaded) and measures it (src/engine/bench.ts). */
  bench(req: BenchRequest, onPhase?: (phase: string) => void): Promise<BenchReport>;
}
