/**
 * Decode GEMV kernels at Phi-3-mini's real shapes and Q4_K_M types, against a kernel that only
 * streams the same number of bytes (src/kernels/stream-read.ts), on the same adapter in the same
 * run. Prints, per GEMV and kernel variant: GB/s of weight bytes, the stream-read GB/s, their
 * ratio (the roofline fraction) and the pipeline creation time.
 *
 *   npm run bench:kernels [-- --runs 5 --only q4_k --variants tile64x16,tile32x16tree]
 *
 * Variants: tile<WG>x<ROWS>[l<LANES>][k<S>][sg|tree][f16] (threads, output rows per workgroup, lanes
 * per row group (src/kernels/gemv.ts lanesPerRow; default all the threads), split-K into S runs
 * (GemvOptions.splitK), reduction (default the device's subgroups), f16 math (GemvOptions.f16,
 * needs shader-f16)); `tuned` =
 * src/kernels/tuning.ts's choice for this adapter. The
 * fused swiglu kernel takes ROWS / 2 output rows (the same number of weight rows). Default
 * variants: tile64x16 (the kernels' defaults before per-adapter tuning) and tuned.
 *   WEBGPU_ICD=swiftshader npm run bench:kernels
 *
 * `--residual` runs the plain matvec cases as the decode step runs Wo and down: adding to y, and
 * handing off to the next norm (normOut: x * g and the sums of squares) except in split-K, which
 * has no hand-off (its reader's extra cost is the difference between the norm cases with and
 * without `prescaled`). Without it, and without split-K, they overwrite y. A split-K variant
 * always adds to y (the only way it runs).
 *
 * `--prefill [tokens]` times the prefill GEMMs instead (default 64 tokens, the same weights):
 * the tiled kernel (shaders/matmul.wgsl, 32 rows x 16 tokens) and the adapter's tuned choice
 * (tuning.ts: the broadcast GEMM on CPU drivers, src/kernels/matmul-bcast.ts), in GMAC/s; with
 * `--reg`, also every register-tiled candidate this device can run (src/kernels/matmul-reg.ts
 * REG_TILE_CANDIDATES, the GEMM shaped for GPUs).
 *
 * Weights are random bytes with sane block scales (random f16 scales would give NaNs and
 * denormals, whose speed is not the point); the results are not checked here (the tests do).
 * Each timing is one submit of one dispatch (or the stream read of the same bytes), waited on
 * with onSubmittedWorkDone; variants and the stream read are timed round-robin, --runs rounds
 * after two warm-up runs each. ms, GB/s and ratio use medians; best/best is the ratio of the
 * fastest runs; cpu ms is the process CPU time of one dispatch (median) and cpu ratio the
 * stream read's CPU time per byte over the kernel's: on a CPU driver that is the same ratio
 * measured in work done rather than wall time, much less sensitive to other processes sharing
 * the machine (the shaders run on this process's threads).
 */
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { MatvecKernel } from '../src/kernels/matvec.ts';
import { MatmulKernel, type MatmulOptions } from '../src/kernels/matmul.ts';
import { REG_TILE_CANDIDATES, regTileUnsupported } from '../src/kernels/matmul-reg.ts';
import type { MatvecOptions } from '../src/kernels/matvec.ts';
import { NormMatvecKernel } from '../src/kernels/norm-matvec.ts';
import { SwigluMatvecKernel } from '../src/kernels/swiglu-matvec.ts';
import { StreamReadKernel } from '../src/kernels/stream-read.ts';
import { destroyWeight, formatInfo, weightRowBytes } from '../src/kernels/weight-formats.ts';
import type { GpuWeight, WeightFormat } from '../src/kernels/weight-formats.ts';
import { decodeTuning, fitShape, type GemvShape } from '../src/kernels/tuning.ts';
import { Rng } from '../src/util/rng.ts';
import { timeDispatch } from './time-dispatch.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Case {
  name: string;
  /** plain matvec, norm_matvec, or swiglu_matvec (rows = gate + up rows, output = rows / 2) */
  kind: 'matvec' | 'norm' | 'swiglu';
  /**
   * The fused norm kernels as the decode step runs them after layer 0: reading x*g and the
   * partial sums of squares the residual GEMV before them wrote (PRESCALED), not g.
   */
  prescaled?: boolean;
  format: WeightFormat;
  rows: number;
  k: number;
}

// Phi-3-mini (dim 3072, ffn 8192, vocab 32064) in llama.cpp's Q4_K_M mix
// (scripts/test-model-spec.ts): qkv Q5_K, ffn_down Q6_K on the use_more_bits layers else Q4_K.
const CASES: Case[] = [
  { name: 'attn_qkv', kind: 'matvec', format: 'Q5_K', rows: 9216, k: 3072 },
  { name: 'attn_output', kind: 'matvec', format: 'Q4_K', rows: 3072, k: 3072 },
  { name: 'ffn_up', kind: 'matvec', format: 'Q4_K', rows: 16384, k: 3072 },
  { name: 'ffn_down', kind: 'matvec', format: 'Q4_K', rows: 3072, k: 8192 },
  { name: 'ffn_down', kind: 'matvec', format: 'Q6_K', rows: 3072, k: 8192 },
  { name: 'output', kind: 'matvec', format: 'Q6_K', rows: 32064, k: 3072 },
  { name: 'norm+qkv', kind: 'norm', format: 'Q5_K', rows: 9216, k: 3072 },
  { name: 'norm+ffn_up+swiglu', kind: 'swiglu', format: 'Q4_K', rows: 16384, k: 3072 },
  { name: 'norm+qkv, prescaled', kind: 'norm', format: 'Q5_K', rows: 9216, k: 3072, prescaled: true },
  { name: 'norm+ffn_up+swiglu, prescaled', kind: 'swiglu', format: 'Q4_K', rows: 16384, k: 3072, prescaled: true },
];


interface Variant {
  name: string;
  opts: MatvecOptions;
}

function parseVariant(name: string): Variant {
  const m = /^tile(\d+)x(\d+)(?:l(\d+))?(?:k(\d+))?(sg|tree)?(f16)?$/.exec(name);
  if (m) {
    const lanes = m[3] ? { lanesPerRow: +m[3] } : {};
    const split = m[4] ? { splitK: +m[4] } : {};
    return { name, opts: { workgroupSize: +m[1], rowsPerWorkgroup: +m[2], ...lanes, ...split, ...(m[5] ? { subgroups: m[5] === 'sg' } : {}), ...(m[6] ? { f16: true } : {}) } };
  }
  throw new Error(`bad variant ${name}: use tile<WG>x<ROWS>[l<LANES>][k<S>][sg|tree][f16] or tuned`);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Random repacked weight bytes with every f16 scale set to a sane value. */
function randomWeight(device: GPUDevice, format: WeightFormat, rows: number, k: number, rng: Rng): GpuWeight {
  const rb = weightRowBytes(format, k);
  const blocks = new Uint8Array(rows * rb.blocks);
  const words = new Uint32Array(blocks.buffer);
  for (let i = 0; i < words.length; i++) words[i] = (rng.next() * 2 ** 32) >>> 0;
  const { blockBytes } = formatInfo(format);
  if (format === 'Q4_K' || format === 'Q5_K') {
    // d = 2^-10, dmin = 2^-12 at the head of every block
    for (let o = 0; o < blocks.length; o += blockBytes) words[o / 4] = 0x14001800;
  } else if (format === 'F32') {
    for (let i = 0; i < words.length; i++) words[i] = 0x3c000000 | (words[i] & 0x007fffff);
  } else if (format === 'F16' || format === 'BF16') {
    const half = format === 'F16' ? 0x2c00 : 0x3c00;
    for (let i = 0; i < words.length; i++) words[i] = ((half | (words[i] & 0x3ff)) * 0x10001) >>> 0;
  }
  const w: GpuWeight = { format, k, rows, blocks: upload(device, blocks) };
  if (rb.scales) {
    const scales = new Uint32Array((rows * rb.scales) / 4).fill(0x1c001c00); // f16 2^-8 pairs
    w.scales = upload(device, new Uint8Array(scales.buffer));
  }
  return w;
}

function upload(device: GPUDevice, data: Uint8Array | Float32Array): GPUBuffer {
  const buf = device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}


/**
 * A kernel built and dispatched twice: pipeline creation time as measured, plus whatever the
 * driver deferred to the first dispatch.
 */
async function build(device: GPUDevice, make: () => { encode: (pass: GPUComputePassEncoder) => void; params: GPUBuffer }) {
  const t0 = performance.now();
  const { encode, params } = make();
  const created = performance.now() - t0;
  const first = (await timeDispatch(device, encode)).ms;
  const second = (await timeDispatch(device, encode)).ms;
  return { encode, params, compile: created + Math.max(0, first - second), ms: [] as number[], cpu: [] as number[] };
}

/** Prefill GEMMs at the plain GEMV cases' shapes: the tiled kernel against the tuned choice, round-robin. */
async function benchPrefill(device: GPUDevice, tuning: ReturnType<typeof decodeTuning>, m: number, runs: number, only?: string): Promise<void> {
  const variants: { name: string; opts: MatmulOptions }[] = [{ name: 'tiled 32x16', opts: {} }];
  const b = tuning.matmul;
  if (b) variants.push({ name: `tuned bcast ${b.subgroupSize} lanes x ${b.rowsPerLane} rows x ${b.tokens} tokens`, opts: { bcast: b } });
  if (process.argv.includes('--reg')) {
    for (const r of REG_TILE_CANDIDATES) {
      if (regTileUnsupported(device, r) === null) variants.push({ name: `reg ${r.rows}x${r.tokens} (${r.rowsPerThread}x${r.tokensPerThread}) ${r.tile}`, opts: { regTile: r } });
    }
  }
  console.log(`prefill GEMMs, ${m} tokens`);
  console.log('| GEMM | type | rows x k | variant | compile ms | ms | GMAC/s | cpu ms | speed-up |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const rng = new Rng(2);
  for (const c of CASES) {
    if (c.kind !== 'matvec' || (only && !`${c.name} ${c.format}`.toLowerCase().includes(only.toLowerCase()))) continue;
    const w = randomWeight(device, c.format, c.rows, c.k, rng);
    const x = upload(device, Float32Array.from({ length: m * c.k }, () => rng.next() * 2 - 1));
    const y = device.createBuffer({ size: 4 * c.rows * m, usage: GPUBufferUsage.STORAGE });
    const built = [];
    for (const v of variants) {
      const b = await build(device, () => {
        const kern = new MatmulKernel(device, c.format, v.opts);
        const params = kern.createParams(c.k, c.rows, m, c.rows);
        const group = kern.bind(w, x, y, params);
        return { params, encode: (pass: GPUComputePassEncoder) => kern.encode(pass, group, c.rows, m) };
      });
      built.push({ v, ...b });
    }
    for (let i = 0; i < runs; i++) {
      for (const b of built) {
        const bt = await timeDispatch(device, b.encode);
        b.ms.push(bt.ms);
        b.cpu.push(bt.cpuMs);
      }
    }
    const base = median(built[0].ms);
    for (const b of built) {
      const t = median(b.ms);
      console.log(`| ${c.name} | ${c.format} | ${c.rows}x${c.k} | ${b.v.name} | ${b.compile.toFixed(0)} | ${t.toFixed(1)} | ${((c.rows * c.k * m) / t / 1e6).toFixed(2)} | ${median(b.cpu).toFixed(0)} | ${(base / t).toFixed(2)} |`);
      b.params.destroy();
    }
    destroyWeight(w);
    x.destroy();
    y.destroy();
  }
}

async function main(): Promise<void> {
  // Mesa keeps compiled shaders on disk: without this, compile times after the first run are ~0.
  process.env.MESA_SHADER_CACHE_DISABLE ??= 'true';
  const runs = Number(arg('--runs') ?? 5);
  const residual = process.argv.includes('--residual');
  const only = arg('--only');
  const { device, capabilities } = await openNodeDevice();
  const adapter = capabilities.adapter;
  const tuning = decodeTuning(adapter, device.features.has('subgroups'));
  if (process.argv.includes('--prefill')) {
    const n = Number(arg('--prefill'));
    await benchPrefill(device, tuning, Number.isInteger(n) && n > 0 ? n : 64, runs, only);
    device.destroy();
    return;
  }
  const t = tuning.matvec;
  const tunedName = `tile${t.workgroupSize}x${t.rowsPerWorkgroup}${t.subgroups ? 'sg' : 'tree'}`;
  const variantNames = (arg('--variants') ?? 'tile64x16,tuned').split(',');
  const variants = [...new Set(variantNames)].map((n) => (n === 'tuned' ? { ...parseVariant(tunedName), name: `tuned ${tunedName}` } : parseVariant(n)));
  console.log(`adapter: ${adapterName(adapter)}; subgroups ${device.features.has('subgroups')} (sizes ${adapter.subgroupMinSize}..${adapter.subgroupMaxSize}); runs ${runs}; tuned: ${tunedName}`);
  console.log('| GEMV | type | rows x k | MB | variant | compile ms | ms | GB/s | stream GB/s | ratio | best/best | cpu ms | cpu ratio |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const stream = new StreamReadKernel(device);
  const partials = stream.createPartials();
  // the prescaled cases read the partial sums the tuned residual GEMV (3072 output rows, k = 3072) hands over
  const handoffParts = Math.ceil(3072 / fitShape(t, 3072 / formatInfo('Q4_K').chunk, tuning.balanceChunks).rowsPerWorkgroup);
  const rng = new Rng(1);
  for (const c of CASES) {
    if (only && !`${c.name} ${c.format}`.toLowerCase().includes(only.toLowerCase())) continue;
    const w = randomWeight(device, c.format, c.rows, c.k, rng);
    const bytes = w.blocks.size + (w.scales?.size ?? 0);
    const x = upload(device, Float32Array.from({ length: c.k }, () => rng.next() * 2 - 1));
    const g = upload(device, Float32Array.from({ length: c.k }, () => rng.next() + 0.5));
    const y = device.createBuffer({ size: 4 * c.rows, usage: GPUBufferUsage.STORAGE });
    const partials4 = upload(device, Float32Array.from({ length: 4 * Math.ceil(handoffParts / 4) }, () => rng.next() * 10));
    const src = device.createBuffer({ size: Math.ceil(bytes / 16) * 16, usage: GPUBufferUsage.STORAGE });
    const streamGroup = stream.bind(src, partials);
    // Build every variant, then time them round-robin with the stream read, so that load from
    // other processes hits all of them alike.
    const built: ({ v: Variant } & Awaited<ReturnType<typeof build>>)[] = [];
    // the hand-off buffers of --residual's normOut kernels
    const extra: GPUBuffer[] = [];
    for (const v0 of variants) {
      // `tuned` as the engine gets it: narrowed to this row length (tuning.ts fitShape)
      const fitted = v0.name.startsWith('tuned') ? fitShape({ ...t, ...v0.opts } as GemvShape, c.k / formatInfo(c.format).chunk, tuning.balanceChunks) : undefined;
      const v = fitted ? { name: `tuned ${fitted.workgroupSize}x${fitted.rowsPerWorkgroup}`, opts: fitted } : v0;
      const b = await build(device, () => {
        if (c.kind === 'matvec') {
          const split = ((v.opts as MatvecOptions).splitK ?? 1) > 1;
          const normOut = residual && !split;
          const kern = new MatvecKernel(device, c.format, { ...v.opts, normOut });
          const params = kern.createParams(c.k, c.rows, 0, residual || split);
          if (!normOut) {
            const group = kern.bind(w, x, y, params);
            return { params, encode: (pass: GPUComputePassEncoder) => kern.encode(pass, group, c.rows) };
          }
          const handoff = { g: upload(device, Float32Array.from({ length: c.rows }, () => rng.next() + 0.5)), xg: device.createBuffer({ size: 4 * c.rows, usage: GPUBufferUsage.STORAGE }) };
          const parts = device.createBuffer({ size: kern.partialsBytes(c.rows), usage: GPUBufferUsage.STORAGE });
          const group = kern.bindNormOut(w, x, y, params, { ...handoff, partials: parts });
          extra.push(handoff.g, handoff.xg, parts);
          return { params, encode: (pass: GPUComputePassEncoder) => kern.encode(pass, group, c.rows) };
        }
        if (c.kind === 'norm') {
          const kern = new NormMatvecKernel(device, c.format, { ...v.opts, prescaled: c.prescaled });
          const params = kern.createParams({ k: c.k, rows: c.rows, eps: 1e-5, parts: c.prescaled ? handoffParts : undefined });
          const group = c.prescaled ? kern.bindPrescaled(w, x, partials4, y, params) : kern.bind(w, x, g, y, params);
          return { params, encode: (pass: GPUComputePassEncoder) => kern.encode(pass, group, c.rows) };
        }
        const rows = (v.opts.rowsPerWorkgroup ?? 16) / 2;
        const kern = new SwigluMatvecKernel(device, c.format, { ...v.opts, rowsPerWorkgroup: Math.max(1, rows), norm: true, prescaled: c.prescaled });
        const ffn = c.rows / 2;
        const params = kern.createParams(w, { ffn, eps: 1e-5, parts: c.prescaled ? handoffParts : undefined });
        const group = c.prescaled ? kern.bindPrescaled(w, x, partials4, y, params) : kern.bind(w, x, g, y, params);
        return { params, encode: (pass: GPUComputePassEncoder) => kern.encode(pass, group, ffn) };
      });
      built.push({ v, ...b });
    }
    const sms: number[] = [];
    const scpu: number[] = [];
    await timeDispatch(device, (pass) => stream.encode(pass, streamGroup)); // first touch of src, as the variants had
    for (let i = 0; i < runs; i++) {
      const st = await timeDispatch(device, (pass) => stream.encode(pass, streamGroup));
      sms.push(st.ms);
      scpu.push(st.cpuMs);
      for (const b of built) {
        const bt = await timeDispatch(device, b.encode);
        b.ms.push(bt.ms);
        b.cpu.push(bt.cpuMs);
      }
    }
    const sgbps = src.size / (median(sms) / 1000) / 1e9;
    const sbest = src.size / (Math.min(...sms) / 1000) / 1e9;
    for (const b of built) {
      const t = median(b.ms);
      const gbps = bytes / (t / 1000) / 1e9;
      const best = bytes / (Math.min(...b.ms) / 1000) / 1e9;
      console.log(
        `| ${c.name} | ${c.format} | ${c.rows}x${c.k} | ${(bytes / 1e6).toFixed(1)} | ${b.v.name} | ${b.compile.toFixed(0)} | ${t.toFixed(2)} | ${gbps.toFixed(2)} | ${sgbps.toFixed(2)} | ${(gbps / sgbps).toFixed(3)} | ${(best / sbest).toFixed(3)} | ${median(b.cpu).toFixed(1)} | ${((median(scpu) / src.size) / (median(b.cpu) / bytes)).toFixed(3)} |`,
      );
      b.params.destroy();
    }
    destroyWeight(w);
    for (const b of [x, g, y, src, partials4, ...extra]) b.destroy();
  }
  partials.destroy();
  device.destroy();
}

await main();
