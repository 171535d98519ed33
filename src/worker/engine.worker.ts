/// <reference lib="webworker" />
/**
 * The engine's worker: owns the GPU device, the weight store and the loaded model. The UI reaches
 * it only through comlink with the API in protocol.ts.
 */
import * as Comlink from 'comlink';
import { adapterName, openDevice, type AdapterSummary, type OpenedDevice } from '../gpu/device.ts';
import { runSelfTest } from '../engine/self-test.ts';
import { benchEngine, benchPromptIds } from '../engine/bench.ts';
import { openModel, readModel, type ModelFile } from '../engine/open.ts';
import { tuneKernels, tuningReport, planReport, type TuningReport } from '../engine/tune.ts';
import { tablePlan, tuningKey, type KernelPlan } from '../engine/plan.ts';
import { cpuDriver } from '../kernels/tuning.ts';
import { TuningStore } from '../store/tuning-store.ts';
import { httpSource } from '../model/gguf-sources.ts';
import { KV_TYPES, kvBytesPerToken, kvTypeProblem } from '../model/config.ts';
import type { KvShape } from '../common/kv.ts';
import { ChatSession } from './session.ts';
import { GREEDY } from '../common/sampling.ts';
import { ContextFullError, CorruptChunkError, DeviceLostError, InvalidRequestError, ModelNotLoadedError, WebGPUUnavailableError } from '../common/errors.ts';
import { customModelEntry, DEFAULT_CONTEXT_LENGTH, findModel } from '../common/catalog.ts';
import { WeightStore } from '../store/weight-store.ts';
import { downloadModel } from '../store/download.ts';
import { importFile } from '../store/import.ts';
import { repairModel } from '../store/repair.ts';
import type { ModelManifest } from '../store/manifest.ts';
import type { StoreProgress } from '../store/progress.ts';
import type { BenchReport, BenchRequest, CapabilitiesResult, EngineApi, InstallSource, LoadProgress, LoadRequest, ModelCheckRequest, ModelCheckResult, StoredModel } from './protocol.ts';

const store = new WeightStore();
/** Tuned kernel plans, per adapter, kernels version and model shape. */
const tuningStore = new TuningStore<{ plan: KernelPlan; report: TuningReport }>();
/** The engine's prefill step (EngineOptions.prefillChunk's default): the prefill roles are tuned at it. */
const PREFILL_CHUNK = 128;
/** The longest a load may spend tuning (a GPU should need well under 10 s); roles left over keep the table's choice. */
const TUNING_BUDGET_MS = 30_000;

/** The stored header's KV shape; for a manifest written before it recorded one, the catalog's. */
function storedKvShape(m: ModelManifest): KvShape | undefined {
  const h = m.header;
  if (h?.nKvHeads !== undefined && h.headDim !== undefined) return { nLayers: h.nLayers, nKvHeads: h.nKvHeads, headDim: h.headDim };
  return findModel(m.id)?.kv;
}

function describe(m: ModelManifest): StoredModel {
  return {
    id: m.id,
    displayName: m.displayName ?? m.header?.name ?? (m.source.kind === 'url' ? m.source.url.split('/').pop() ?? m.id : m.source.name),
    bytes: m.source.size,
    storedBytes: m.chunks.reduce((s, c) => s + c.bytes, 0),
    complete: m.complete,
    source: m.source.kind,
    url: m.source.kind === 'url' ? m.source.url : undefined,
    architecture: m.header?.architecture,
    contextLength: m.header?.contextLength,
    kv: storedKvShape(m),
  };
}

/** A download's or repair's progress, as the UI's LoadProgress. */
function fromStore(p: StoreProgress): LoadProgress {
  return { phase: p.phase, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal ?? 0, rate: p.bytesPerSecond || undefined, etaSeconds: p.etaSeconds, message: p.message };
}

let opened: Promise<OpenedDevice> | undefined;

function device(): Promise<OpenedDevice> {
  if (!opened) {
    opened = openDevice((self as unknown as { navigator: Navigator }).navigator.gpu);
    void opened.then((o) => watchDevice(o.device), () => {});
    // A failed attempt is not cached: the user may enable WebGPU and retry.
    opened.catch(() => (opened = undefined));
  }
  return opened;
}

let session: ChatSession | undefined;
let installCtl: AbortController | undefined;
let loadedId: string | undefined;

function requireSession(): ChatSession {
  if (!session) throw new ModelNotLoadedError();
  return session;
}

let lastLoad: LoadRequest | undefined;
let recovering: Promise<unknown> | undefined;
let loading: Promise<unknown> = Promise.resolve();
let deviceLosses = 0;
let lastLoss = '';

/** A lost device takes every buffer with it: forget it, and reload the model on a new one. */
function watchDevice(dev: GPUDevice): void {
  void dev.lost.then((info) => {
    deviceLosses++;
    lastLoss = `device lost: ${info.reason}${info.message ? `, ${info.message}` : ''}`;
    opened = undefined;
    session = undefined;
    const req = lastLoad;
    if (req) {
      recovering = loadModel(req).catch((e: unknown) => {
        lastLoss += `; reloading failed: ${e instanceof Error ? e.message : String(e)}`;
        throw e;
      });
    }
  });
}

/**
 * Loads a model; a stored model whose chunks fail their checksum (or went missing) while loading
 * is repaired first: only the bad chunks are downloaded again from the model's URL, then the
 * load starts over. A model imported from a local file cannot be fetched again: the user is told
 * to import it again (the CorruptChunkError says so).
 */
async function loadModel(req: LoadRequest, onProgress?: (p: LoadProgress) => void) {
  try {
    return await loadModelOnce(req, onProgress);
  } catch (e) {
    if (req.kind !== 'stored' || !(e instanceof CorruptChunkError)) throw e;
    const m = await store.getManifest(req.id);
    if (m?.source.kind !== 'url') throw e;
    onProgress?.({ phase: 'verifying', bytesDone: 0, bytesTotal: 0, message: `Chunk ${e.index} of the stored copy is damaged: checking every chunk and downloading the damaged ones again.` });
    await repairModel({
      id: req.id,
      store,
      onVerify: (done, total) => onProgress?.({ phase: 'verifying', bytesDone: done, bytesTotal: total, message: 'Checking the stored copy' }),
      onProgress: (p) => onProgress?.(fromStore(p)),
    });
    return loadModelOnce(req, onProgress);
  }
}

async function loadModelOnce(req: LoadRequest, onProgress?: (p: LoadProgress) => void) {
  const { device: dev, capabilities } = await device();
  session?.engine.destroy();
  session = undefined;
  lastLoad = req;
  const t0 = performance.now();
  onProgress?.({ phase: 'checking', bytesDone: 0, bytesTotal: 0 });
  // Store and HTTP sources hold no handle to close.
  const src = req.kind === 'stored' ? await store.storeSource(req.id) : await httpSource(req.url);
  loadedId = req.kind === 'stored' ? req.id : undefined;
  const model = await readModel(src);
  const contextLength = Math.min(req.contextLength ?? DEFAULT_CONTEXT_LENGTH, model.cfg.contextLength);
  const kvType = req.kvType ?? 'f16';
  if (!KV_TYPES.includes(kvType)) throw new InvalidRequestError(`kvType must be one of ${KV_TYPES.join(', ')}; got ${String(kvType)}.`);
  const kvProblem = kvTypeProblem(model.cfg, kvType);
  if (kvProblem) throw new InvalidRequestError(`This model cannot keep its context in 8 bits: ${kvProblem}. Choose 16-bit (or Automatic) KV cache precision.`);
  const weightBytes = model.file.tensors.reduce((s, t) => s + t.nbytes, 0);
  const kernels = await choosePlan(req, model, capabilities.adapter);
  let tuning: TuningReport = kernels.report;
  const open = (plan: KernelPlan | undefined) =>
    openModel(dev, model, {
      contextLength,
      kvType,
      plan,
      tune: plan
        ? undefined
        : async (weights) => {
            const r = await tuneKernels(dev, model.cfg, weights, {
              chunk: PREFILL_CHUNK,
              contextLength,
              kvType,
              budgetMs: TUNING_BUDGET_MS,
              onProgress: (step, steps) => onProgress?.({ phase: 'tuning', bytesDone: 0, bytesTotal: 0, step, steps }),
            });
            tuning = tuningReport(r);
            // a plan that cannot be stored (private browsing, full storage) still serves this load
            await tuningStore.put(kernels.key, { plan: r.plan, report: tuning }).catch(() => undefined);
            return r.plan;
          },
      onProgress: (p) => onProgress?.({ phase: 'uploading', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
      // the pipelines compile during the upload; whatever is left is waited for before load returns
      onUploaded: () => onProgress?.({ phase: 'compiling', bytesDone: weightBytes, bytesTotal: weightBytes }),
      // Only for drivers that compile a pipeline at its first dispatch rather than at creation, as the CPU emulator lavapipe does: it compiles now, not in the first reply.
      warmUp: { promptTokens: 1, maxTokens: 1 },
    });
  let opened: Awaited<ReturnType<typeof open>>;
  try {
    opened = await open(kernels.plan);
  } catch (e) {
    // a stored plan naming a variant this build no longer makes: forget it and tune again
    if (kernels.report.source !== 'tuned' || !kernels.plan) throw e;
    await tuningStore.delete(kernels.key).catch(() => undefined);
    opened = await open(undefined);
  }
  session = new ChatSession(opened);
  return {
    name: model.cfg.name ?? (req.kind === 'url' ? req.url.split('/').pop() : req.id) ?? 'model',
    architecture: model.cfg.arch,
    contextLength,
    weightBytes: opened.engine.weightBytes,
    kvBytesPerToken: kvBytesPerToken(model.cfg, kvType),
    kvType,
    kvBytes: opened.engine.kvBytes,
    kv: { nLayers: model.cfg.nLayers, nKvHeads: model.cfg.nKvHeads, headDim: model.cfg.headDim },
    loadMs: performance.now() - t0,
    tuning,
  };
}

/**
 * The kernel plan of a load (LoadRequest.kernels): a plan to build with, or none (tune during the
 * load), the key a tuned plan is stored under, and the report of a plan used as it is.
 */
async function choosePlan(req: LoadRequest, model: ModelFile, adapter: AdapterSummary): Promise<{ plan?: KernelPlan; key: string; report: TuningReport }> {
  const key = tuningKey(adapter, model.cfg, model.file);
  const mode = req.kernels ?? 'auto';
  const table = tablePlan(adapter, (await device()).device.features.has('subgroups'));
  if (mode === 'table') return { plan: table, key, report: planReport(table) };
  if (mode === 'auto') {
    const stored = await tuningStore.get(key).catch(() => undefined);
    if (stored) return { plan: stored.value.plan, key, report: { ...stored.value.report, savedAt: stored.savedAt } };
    // The CPU emulators run the tests and demos; their table shapes come from benchmarks there,
    // and tuning them costs minutes of pipeline compiles: they tune only when asked ('retune').
    if (cpuDriver(adapter)) return { plan: table, key, report: planReport(table) };
  }
  return { key, report: planReport(table) };
}

const api: EngineApi = {
  async install(source: InstallSource, onProgress?: (p: LoadProgress) => void): Promise<StoredModel> {
    const progress = (p: StoreProgress) => onProgress?.(fromStore(p));
    installCtl?.abort();
    const ctl = (installCtl = new AbortController());
    try {
      if (source.kind === 'file') {
        const r = await importFile(source.file, store, progress, { signal: ctl.signal });
        return describe(r.manifest);
      }
      const entry = customModelEntry(source.url);
      const r = await downloadModel({
        id: entry.id,
        url: entry.url,
        store,
        signal: ctl.signal,
        displayName: source.displayName ?? entry.displayName,
        expectedBytes: source.expectedBytes ?? entry.bytes,
        onProgress: progress,
      });
      return describe(r.manifest);
    } finally {
      if (installCtl === ctl) installCtl = undefined;
    }
  },
  async cancelInstall() {
    installCtl?.abort();
  },
  async listModels() {
    return (await store.listModels()).map(describe);
  },
  async deleteModel(id: string) {
    if (session && loadedId === id) {
      session.engine.destroy();
      session = undefined;
    }
    await store.deleteModel(id);
  },
  async load(req: LoadRequest, onProgress?: (p: LoadProgress) => void) {
    await recovering?.catch(() => {});
    // Loads run one at a time; a later one replaces (and frees) the model of an earlier one.
    const run = loading.catch(() => {}).then(() => loadModel(req, onProgress));
    loading = run;
    return run;
  },
  async loseDevice() {
    const { device: dev } = await device();
    dev.destroy();
    await dev.lost; // the watcher (registered first) has started the reload when this resumes
  },
  async chat(req, onDelta) {
    await recovering?.catch(() => {});
    await loading.catch(() => {}); // a chat sent while a model loads waits for it
    const current = requireSession();
    const lossesBefore = deviceLosses;
    try {
      return await current.chat(req, onDelta);
    } catch (e) {
      // A lost device first shows as a failed mapAsync (AbortError); its `lost` promise may
      // settle a moment later, so give it that moment before deciding what to report.
      const lost = await Promise.race([current.engine.device.lost.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 250))]);
      if (lost || deviceLosses > lossesBefore) {
        throw new DeviceLostError(`The GPU was reset during this reply (${lastLoss}). The model is being reloaded from storage; send the message again in a moment.`);
      }
      throw e;
    }
  },
  async abort() {
    session?.abort();
  },
  async unload() {
    session?.engine.destroy();
    session = undefined;
  },
  async stats() {
    const e = session?.engine;
    return {
      loaded: Boolean(e),
      cachedTokens: e?.cachedTokens.length ?? 0,
      prefillTokens: e?.counters.prefillTokens ?? 0,
      decodeSteps: e?.counters.decodeSteps ?? 0,
      dispatchesPerToken: e?.counters.dispatchesPerDecodeStep ?? 0,
      deviceLosses,
    };
  },
  async capabilities(): Promise<CapabilitiesResult> {
    try {
      const { capabilities } = await device();
      return { ok: true, ...capabilities };
    } catch (e) {
      if (e instanceof WebGPUUnavailableError) return { ok: false, reason: e.reason, message: e.message };
      return { ok: false, reason: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    }
  },
  async checkModel(req: ModelCheckRequest): Promise<ModelCheckResult> {
    const { device: dev, capabilities } = await device();
    const t0 = performance.now();
    const model = await readModel(await httpSource(req.url));
    const { engine } = await openModel(dev, model, { contextLength: req.contextLength, slidingWindow: req.slidingWindow });
    try {
      const loadMs = performance.now() - t0;
      const res = await engine.generate(req.promptIds, { maxTokens: req.maxTokens, topLogprobs: req.topLogprobs, sampling: GREEDY });
      return {
        adapter: adapterName(capabilities.adapter),
        tokens: res.tokens,
        finishReason: res.finishReason,
        loadMs,
        prefillMs: res.prefillMs,
        decodeMs: res.decodeMs,
        dispatchesPerToken: engine.counters.dispatchesPerDecodeStep,
      };
    } finally {
      engine.destroy();
    }
  },
  async selfTest() {
    const { device: dev } = await device();
    return runSelfTest(dev);
  },
  async bench(req: BenchRequest, onPhase?: (phase: string) => void): Promise<BenchReport> {
    await recovering?.catch(() => {});
    if (!Number.isInteger(req.promptTokens) || req.promptTokens < 1 || !Number.isInteger(req.decodeTokens) || req.decodeTokens < 2) {
      throw new InvalidRequestError(
        `The benchmark needs at least 1 prompt token and 2 decoded tokens, as whole numbers (got ${req.promptTokens} and ${req.decodeTokens}): decode speed is measured from the second token.`,
      );
    }
    const run = loading.catch(() => {}).then(async () => {
      onPhase?.('loading the model');
      const loaded = await loadModel(req.model, (p) => {
        if (p.phase === 'tuning') onPhase?.(`tuning for your GPU, ${p.step ?? 0} of ${p.steps ?? 0}`);
      });
      const s = requireSession();
      if (req.promptTokens + req.decodeTokens > loaded.contextLength) {
        throw new ContextFullError(
          `The benchmark's ${req.promptTokens} prompt + ${req.decodeTokens} decoded tokens do not fit the ${loaded.contextLength}-token context the model was loaded with: ask for fewer tokens, or load a longer context.`,
        );
      }
      const m = await benchEngine(s.engine, {
        promptIds: benchPromptIds(s.tokenizer, req.promptTokens),
        decodeTokens: req.decodeTokens,
        profileSteps: req.profileSteps,
        streamSweep: req.streamSweep,
        rooflineRounds: req.rooflineRounds,
        contexts: req.contexts,
        contextDecodeTokens: req.contextDecodeTokens,
        prefillLengths: req.prefillLengths,
        onPhase,
      });
      const { capabilities } = await device();
      return {
        model: loaded.name,
        adapter: adapterName(capabilities.adapter),
        capabilities,
        userAgent: self.navigator.userAgent,
        contextLength: loaded.contextLength,
        loadMs: loaded.loadMs,
        tuning: loaded.tuning,
        ...m,
      };
    });
    loading = run;
    return run;
  },
};

Comlink.expose(api);
