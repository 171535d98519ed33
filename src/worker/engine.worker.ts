/// <reference lib="webworker" />
/**
 * The engine's worker: owns the GPU device and (later) the model. The UI reaches it only
 * through comlink with the API in protocol.ts.
 */
import * as Comlink from 'comlink';
import { openDevice, type OpenedDevice } from '../gpu/device.ts';
import { WebGPUUnavailableError } from '../gpu/errors.ts';
import { runSelfTest } from '../engine/self-test.ts';
import { Engine } from '../engine/engine.ts';
import { httpSource } from '../model/gguf-sources.ts';
import { readGGUF } from '../model/gguf.ts';
import { modelConfigFromGGUF } from '../model/config.ts';
import { adapterName } from '../gpu/device.ts';
import type { CapabilitiesResult, EngineApi, ModelCheckRequest, ModelCheckResult } from './protocol.ts';

let opened: Promise<OpenedDevice> | undefined;

function device(): Promise<OpenedDevice> {
  if (!opened) {
    opened = openDevice((self as unknown as { navigator: Navigator }).navigator.gpu);
    // A failed attempt is not cached: the user may enable WebGPU and retry.
    opened.catch(() => (opened = undefined));
  }
  return opened;
}

const api: EngineApi = {
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
    const src = await httpSource(req.url);
    const file = await readGGUF(src);
    const cfg = modelConfigFromGGUF(file);
    const engine = await Engine.load(dev, file, src, cfg, { contextLength: req.contextLength, slidingWindow: req.slidingWindow });
    try {
      const loadMs = performance.now() - t0;
      const res = await engine.generate(req.promptIds, { maxTokens: req.maxTokens, topLogprobs: req.topLogprobs });
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
};

Comlink.expose(api);
