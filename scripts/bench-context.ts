/**
 * npm run bench:context -- [--preset tiny] [--file F.gguf] [--lengths 1024,4096,8192,16384]
 *                          [--kv-types f16,q8_0] [--decode 8] [--json]
 *
 * Long context on a generated 128K LongRoPE model (the preset's shapes, `contextLength` 131072,
 * Q4_K_M; or --file). For each KV type and each prompt length P: a load whose context holds P
 * plus the decoded tokens, a prefill of a P-token prompt, then `decode` greedy tokens. Reported:
 * the GPU bytes alive after the load, the peak while prefilling and decoding (every createBuffer
 * through the device is counted until its destroy), the KV cache's bytes, prefill tok/s and
 * decode tok/s at that context. The engine allocates every buffer at load (the prefill runs in
 * fixed chunks, attention is flash-style), so the peak should grow with P only by the KV cache.
 */
import { parseArgs } from 'node:util';
import { fileSource } from '../src/model/source-node.ts';
import { openModel, readModel } from '../src/engine/open.ts';
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { kvBytesPerToken, KV_TYPES, type KvType } from '../src/model/config.ts';
import { GREEDY } from '../src/common/sampling.ts';
import { Rng } from '../src/util/rng.ts';
import { ensureModel } from './test-models.ts';
import { PRESETS, type PresetName } from './test-model-spec.ts';

/** A device whose buffers are summed while alive: `live` now, `peak` since the last reset. */
function byteCountingDevice(real: GPUDevice) {
  const bytes = { live: 0, peak: 0 };
  const device = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'createBuffer') {
        return (desc: GPUBufferDescriptor) => {
          const buffer = target.createBuffer(desc);
          const size = desc.size;
          bytes.live += size;
          bytes.peak = Math.max(bytes.peak, bytes.live);
          let destroyed = false;
          const destroy = buffer.destroy.bind(buffer);
          buffer.destroy = () => {
            if (!destroyed) bytes.live -= size;
            destroyed = true;
            destroy();
          };
          return buffer;
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { device, bytes };
}

export interface ContextRow {
  kvType: KvType;
  promptTokens: number;
  contextLength: number;
  loadedBytes: number;
  peakBytes: number;
  kvBytes: number;
  prefillTokS: number;
  decodeTokS: number;
}

const { values: v } = parseArgs({
  options: {
    preset: { type: 'string', default: 'tiny' },
    file: { type: 'string' },
    lengths: { type: 'string', default: '1024,4096,8192,16384' },
    'kv-types': { type: 'string', default: KV_TYPES.join(',') },
    decode: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
  },
});
const preset = v.preset as PresetName;
if (!(preset in PRESETS)) throw new Error(`bench:context: unknown preset "${preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
const lengths = (v.lengths as string).split(',').map(Number);
if (lengths.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`bench:context: --lengths must be positive integers (got ${v.lengths})`);
const kvTypes = (v['kv-types'] as string).split(',') as KvType[];
for (const t of kvTypes) if (!KV_TYPES.includes(t)) throw new Error(`bench:context: --kv-types must be among ${KV_TYPES.join(', ')} (got ${t})`);
const decode = Number(v.decode);
if (!Number.isInteger(decode) || decode < 2) throw new Error(`bench:context: --decode must be an integer of at least 2 (got ${v.decode})`);

const path = (v.file as string | undefined) ?? (await ensureModel({ preset, mix: 'q4_k_m', seed: 1, longRope: true, contextLength: 131072 }));
const model = await readModel(await fileSource(path));
const { device: real, capabilities } = await openNodeDevice();
const rows: ContextRow[] = [];
const log = (s: string) => process.stderr.write(`${s}\n`);
log(`[bench:context] ${path} on ${adapterName(capabilities.adapter)}`);

for (const kvType of kvTypes) {
  for (const p of lengths) {
    const contextLength = p + decode;
    if (contextLength > model.cfg.contextLength) throw new Error(`bench:context: ${p} + ${decode} positions exceed the model's context (${model.cfg.contextLength})`);
    const { device, bytes } = byteCountingDevice(real);
    bytes.live = 0;
    bytes.peak = 0;
    const opened = await openModel(device, model, { contextLength, kvType, slidingWindow: false });
    try {
      const loadedBytes = bytes.live;
      const rng = new Rng(p);
      const prompt = Array.from({ length: p }, () => Math.floor(rng.next() * model.cfg.vocabSize));
      const res = await opened.engine.generate(prompt, { maxTokens: decode, sampling: GREEDY });
      const n = res.tokens.length;
      const row: ContextRow = {
        kvType,
        promptTokens: p,
        contextLength,
        loadedBytes,
        peakBytes: bytes.peak,
        kvBytes: kvBytesPerToken(model.cfg, kvType) * contextLength,
        prefillTokS: p / (res.prefillMs / 1000),
        decodeTokS: n > 1 ? (n - 1) / (res.decodeMs / 1000) : 0,
      };
      rows.push(row);
      log(`[bench:context] ${JSON.stringify(row)}`);
    } finally {
      opened.engine.destroy();
    }
  }
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);
if (v.json) {
  process.stdout.write(`${JSON.stringify({ model: path, adapter: adapterName(capabilities.adapter), rows })}\n`);
} else {
  const out = [
    '| KV | prompt | context | GPU MiB after load | peak GPU MiB | KV MiB | peak - KV MiB | prefill tok/s | decode tok/s |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.kvType} | ${r.promptTokens} | ${r.contextLength} | ${mb(r.loadedBytes)} | ${mb(r.peakBytes)} | ${mb(r.kvBytes)} | ${mb(r.peakBytes - r.kvBytes)} | ${r.prefillTokS.toFixed(1)} | ${r.decodeTokS.toFixed(2)} |`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}
process.exit(0);
