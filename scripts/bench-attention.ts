/**
 * npm run bench:attention [-- --positions 1024,4096,8191 --runs 15 --kv-type f16|q8_0]
 *
 * One decode step's attention (the split-K pass and the merge) at Phi-3-small's shapes (32 query
 * heads over 8 KV heads, head size 128, scale 1/128, an 8192-position cache of random values), on a
 * dense layer and on a block-sparse one (block 64, 16 local blocks, vertical stride 8, head step
 * 1), alternating, on this process's adapter (Dawn on lavapipe, or WEBGPU_ICD=swiftshader). Prints
 * the medians of wall and process CPU time (a CPU driver runs the shaders on this process's
 * threads, so CPU time is the work done) and the sparse/dense ratio beside the ratio of cache rows
 * the two read (src/kernels/attention.ts sparseKeysRead, per query head): if the sparse pass
 * skipped nothing, its time would match the dense one. Kernel options are AttentionKernel's
 * defaults.
 */
import { parseArgs } from 'node:util';
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { createStorage, uploadStorage } from '../src/gpu/buffers.ts';
import { AttentionKernel, sparseKeysRead, type AttentionShape, type BlockSparse } from '../src/kernels/attention.ts';
import { createStepBuffer, writeStep } from '../src/kernels/step.ts';
import { kvRowWords } from '../src/kernels/kv-layout.ts';
import { KV_TYPES, type KvType } from '../src/model/config.ts';
import { f32ToF16 } from '../src/model/quant/index.ts';
import { Rng } from '../src/util/rng.ts';
import { timeDispatch } from './time-dispatch.ts';

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      positions: { type: 'string', default: '1024,4096,8191' },
      runs: { type: 'string', default: '15' },
      'kv-type': { type: 'string', default: 'f16' },
    },
  });
  const kvType = values['kv-type'] as KvType;
  if (!KV_TYPES.includes(kvType)) throw new Error(`--kv-type must be one of ${KV_TYPES.join(', ')}`);
  const runs = Number(values.runs);
  const positions = values.positions.split(',').map(Number);
  const { device, capabilities } = await openNodeDevice();
  const nHeads = 32;
  const nKvHeads = 8;
  const headDim = 128;
  const maxCtx = 8192;
  const sparse: BlockSparse = { blockSize: 64, localBlocks: 16, vertStride: 8, headStep: 1 };
  const dense: AttentionShape = { nHeads, nKvHeads, headDim, maxCtx, window: 0, scale: 1 / headDim };
  const kernel = new AttentionKernel(device, headDim, { kvType });
  const rng = new Rng(1);

  // Random caches: f16 values in [-1, 1]; a q8_0 cache gets random quant bytes and scales of ~1/127.
  const words = nKvHeads * maxCtx * kvRowWords(headDim, kvType);
  const cache = () => {
    const w = new Uint32Array(words);
    if (kvType === 'f16') for (let i = 0; i < words; i++) w[i] = (f32ToF16(rng.next() * 2 - 1) | (f32ToF16(rng.next() * 2 - 1) << 16)) >>> 0;
    else {
      const row = kvRowWords(headDim, kvType);
      const quantWords = headDim / 4;
      for (let i = 0; i < words; i++) w[i] = i % row < quantWords ? (rng.next() * 2 ** 32) >>> 0 : (f32ToF16(1 / 127) | (f32ToF16(1 / 127) << 16)) >>> 0;
    }
    return uploadStorage(device, w, 'bench.kv');
  };
  const kv = { k: cache(), v: cache() };
  const q = uploadStorage(device, Float32Array.from({ length: nHeads * headDim }, () => rng.next() * 2 - 1), 'bench.q');
  const att = createStorage(device, nHeads * headDim * 4, 'bench.att');
  const step = createStepBuffer(device);
  const scratch = kernel.createScratch(dense);
  const bindings = [dense, { ...dense, sparse }].map((shape) => kernel.bind({ shape, params: kernel.createParams(shape), step, scratch }, kv, q, att));

  console.log(`${adapterName(capabilities.adapter)}; Phi-3-small attention, one decoded token, KV ${kvType}; medians of ${runs} runs`);
  console.log('| position | dense ms (CPU ms) | block-sparse ms (CPU ms) | sparse / dense, CPU time | rows read per query head, sparse / dense |');
  console.log('|---|---|---|---|---|');
  for (const pos of positions) {
    writeStep(device, step, { pos0: pos, nTokens: 1 });
    const times = bindings.map(() => ({ ms: [] as number[], cpu: [] as number[] }));
    for (let r = -2; r < runs; r++) {
      for (const [i, b] of bindings.entries()) {
        const t = await timeDispatch(device, (pass) => kernel.encodeDecode(pass, b, { pos0: pos, nTokens: 1 }));
        if (r >= 0) {
          times[i].ms.push(t.ms);
          times[i].cpu.push(t.cpuMs);
        }
      }
    }
    const [d, s] = times.map((t) => ({ ms: median(t.ms), cpu: median(t.cpu) }));
    const rows = sparseKeysRead(sparse, nHeads, nKvHeads, pos).perQueryHead / sparseKeysRead(undefined, nHeads, nKvHeads, pos).perQueryHead;
    console.log(`| ${pos} | ${d.ms.toFixed(2)} (${d.cpu.toFixed(2)}) | ${s.ms.toFixed(2)} (${s.cpu.toFixed(2)}) | ${(s.cpu / d.cpu).toFixed(3)} | ${rows.toFixed(3)} |`);
  }
  device.destroy();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
