/**
 * npm run bench:phi3small -- --file phi3-small-q4_k_m.gguf [--context 8192] [--prompt 16]
 *                            [--decode 8] [--kv-type f16|q8_0] [--at 4096,8192] [--json]
 *
 * A converted Phi-3-small (npm run convert) loaded and decoded once in Node (Dawn on lavapipe, or
 * WEBGPU_ICD=swiftshader): load time, the GPU bytes of every buffer the engine holds and of the KV
 * cache, dispatches and weight bytes per decoded token, prefill and decode tok/s (greedy, a
 * `prompt`-token English prompt), and the KV cache bytes one decoded token reads at the `--at`
 * positions, with the model's block-sparse layers and as if every layer were dense (the rows each
 * layer's pattern lets a decode step see, src/engine/engine.ts kvRowsRead): distinct rows, and rows
 * loaded per query head. The positions need no prefill: which rows a step reads follows from the
 * pattern alone.
 */
import { parseArgs } from 'node:util';
import { statSync } from 'node:fs';
import { fileSource } from '../src/model/source-node.ts';
import { openModel, readModel } from '../src/engine/open.ts';
import { benchPromptIds, decodeAtContext, decodeWeightBytes, prefillAt } from '../src/engine/bench.ts';
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { KV_TYPES, type KvType } from '../src/model/config.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      file: { type: 'string' },
      context: { type: 'string', default: '8192' },
      prompt: { type: 'string', default: '16' },
      decode: { type: 'string', default: '8' },
      'kv-type': { type: 'string', default: 'f16' },
      at: { type: 'string', default: '4096,8192' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.file) throw new Error('usage: npm run bench:phi3small -- --file FILE.gguf [--context 8192] [--prompt 16] [--decode 8] [--kv-type f16|q8_0] [--at 4096,8192]');
  const kvType = values['kv-type'] as KvType;
  if (!KV_TYPES.includes(kvType)) throw new Error(`--kv-type must be one of ${KV_TYPES.join(', ')}`);
  const context = Number(values.context);
  const promptTokens = Number(values.prompt);
  const decodeTokens = Number(values.decode);
  const at = values.at.split(',').map(Number);

  const { device, capabilities } = await openNodeDevice();
  const model = await readModel(await fileSource(values.file));
  if (model.cfg.arch !== 'phi3small') throw new Error(`${values.file} is a ${model.cfg.arch} model; this benchmark is for phi3small`);
  const t0 = performance.now();
  const { engine } = await openModel(device, model, { contextLength: context, kvType });
  const loadMs = performance.now() - t0;
  const ids = benchPromptIds(model.tokenizer, promptTokens);
  const prefill = await prefillAt(engine, ids, promptTokens, false);
  const decode = await decodeAtContext(engine, ids, promptTokens, decodeTokens);
  const { nLayers, nKvHeads } = model.cfg;
  const rowBytes = engine.kvBytes / (engine.maxCtx * nLayers * nKvHeads);
  const kvAt = at.map((n) => {
    const r = engine.kvRowsRead(n - 1);
    return {
      context: n,
      sparseBytes: r.rows * rowBytes,
      denseBytes: r.denseRows * rowBytes,
      ratio: r.rows / r.denseRows,
      sparseHeadBytes: r.headRows * rowBytes,
      denseHeadBytes: r.denseHeadRows * rowBytes,
      headRatio: r.headRows / r.denseHeadRows,
    };
  });
  const result = {
    adapter: adapterName(capabilities.adapter),
    file: values.file,
    fileBytes: statSync(values.file).size,
    context,
    kvType,
    loadMs,
    gpuBytes: engine.gpuBytes,
    kvCacheBytes: engine.kvBytes,
    dispatchesPerDecodedToken: engine.counters.dispatchesPerDecodeStep,
    weightBytesPerToken: decodeWeightBytes(engine),
    prefill: { tokens: promptTokens, tokPerS: prefill.tokPerS },
    decode: { atPosition: decode.context, tokens: decode.decodeTokens, tokPerS: decode.decodeTokPerS, msPerToken: decode.msPerToken },
    kvReadPerToken: kvAt,
  };
  engine.destroy();
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const mb = (b: number) => (b / 1e6).toFixed(1);
  console.log(`${result.adapter}; ${values.file} (${(result.fileBytes / 1e9).toFixed(2)} GB), context ${context}, KV ${kvType}`);
  console.log(`load ${(loadMs / 1000).toFixed(1)} s; GPU ${mb(result.gpuBytes)} MB (KV cache ${mb(result.kvCacheBytes)} MB); ${result.dispatchesPerDecodedToken} dispatches and ${mb(result.weightBytesPerToken)} MB of weights per decoded token`);
  console.log(`prefill ${promptTokens} tokens: ${result.prefill.tokPerS?.toFixed(2)} tok/s; decode ${decode.decodeTokens} tokens at position ${decode.context}: ${decode.decodeTokPerS?.toFixed(3)} tok/s`);
  console.log("KV bytes one decoded token reads: distinct rows (a row its group's query heads share counted once), and rows loaded per query head");
  console.log('| context | distinct, block-sparse | distinct, as if dense | ratio | per query head, block-sparse | per query head, as if dense | ratio |');
  console.log('|---|---|---|---|---|---|---|');
  for (const k of kvAt) {
    console.log(`| ${k.context} | ${mb(k.sparseBytes)} MB | ${mb(k.denseBytes)} MB | ${k.ratio.toFixed(3)} | ${mb(k.sparseHeadBytes)} MB | ${mb(k.denseHeadBytes)} MB | ${k.headRatio.toFixed(3)} |`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
