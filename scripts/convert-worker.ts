/**
 * A worker thread of the converter's pool (scripts/convert.ts): bf16 rows in, the output type's
 * bytes out. The quantizers are single-threaded, so the pool runs one chunk per core.
 */
import { parentPort } from 'node:worker_threads';
import { quantize } from '../src/model/quant/index.ts';
import { bf16ToF32 } from '../src/model/safetensors.ts';

interface Job { id: number; type: number; bf16: Uint8Array }

parentPort?.on('message', (job: Job) => {
  try {
    const out = quantize(job.type, bf16ToF32(job.bf16));
    parentPort?.postMessage({ id: job.id, out }, [out.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort?.postMessage({ id: job.id, error: (e as Error).message });
  }
});
