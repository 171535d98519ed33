/**
 * Where a Q4_K decode GEMV's time goes on a CPU Vulkan driver, against the streaming read the
 * roofline is measured with (src/kernels/stream-read.ts), on the same adapter in the same run.
 * What the numbers show and what follows for the kernels: scripts/lavapipe-probe.md.
 *
 *   npx tsx --import ./scripts/register-raw.mjs scripts/lavapipe-probe.ts [--rows 16384] [--k 3072] [--runs 9]
 *
 * Probes (one weight row per invocation, 8-invocation workgroups; the first three in
 * scripts/lavapipe-probe.wgsl): `load` only reads the rows; `decode` also turns every nibble into
 * an f32; `scaled` also applies the block scales and multiplies each weight by a value already in
 * registers: everything a GEMV does except fetching x. Then two real GEMVs that differ only in
 * how x reaches the lanes, `bcast` (each lane loads part of x from a storage buffer and
 * subgroupBroadcast hands every value to all lanes) and `ubo` (x in a uniform buffer, every lane
 * loading the same address), and the engine's tuned kernel (src/kernels/matvec.ts; lanes split
 * the row, each loads its own x; shape from tuning.ts as the engine fits it to k). The GEMVs are
 * checked against the CPU.
 *
 * Printed: median wall ms, median process CPU ms (lavapipe runs the shaders on this process's
 * threads, so CPU time is the work done, much less sensitive to other load) and the CPU-time
 * ratio to the streaming read per byte (the roofline fraction measured in work).
 */
import { parseArgs } from 'node:util';
import { openNodeDevice } from '../src/gpu/node.ts';
import { adapterName } from '../src/gpu/device.ts';
import { MatvecKernel } from '../src/kernels/matvec.ts';
import { StreamReadKernel } from '../src/kernels/stream-read.ts';
import { decodeTuning, fitShape } from '../src/kernels/tuning.ts';
import { formatInfo, weightRowBytes } from '../src/kernels/weight-formats.ts';
import { dequantizeQ4_K } from '../src/model/quant/q4_k.ts';
import { Rng } from '../src/util/rng.ts';
import { timeDispatch } from './time-dispatch.ts';
import common from '../shaders/quant_common.wgsl?raw';
import probes from './lavapipe-probe.wgsl?raw';

const { values: v } = parseArgs({ options: { rows: { type: 'string', default: '16384' }, k: { type: 'string', default: '3072' }, runs: { type: 'string', default: '9' } } });
const rows = Number(v.rows);
const k = Number(v.k);
const runs = Number(v.runs);
if (!(k % 256 === 0 && k > 0 && rows > 0)) throw new Error('--k must be a multiple of 256');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The bcast GEMV: one row per lane; per block each lane loads 8 vec4 of x, broadcast to all lanes. */
function bcastShader(): string {
  let s = `@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@compute @workgroup_size(8)
fn bcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let nb = params.k / 256u;
  let row = min(gid.x, params.rows - 1u);
  var acc = 0.0;
  for (var b = 0u; b < nb; b++) {
    var xv: array<vec4<f32>, 8>;
    var xsum: array<f32, 8>;
    for (var i = 0u; i < 8u; i++) {
      let t = x[b * 64u + 8u * i + lane];
      xsum[i] = subgroupAdd((t.x + t.y) + (t.z + t.w));
      xv[i] = t * LANE_SCALE;
    }
    let blk = block(row, nb, b);
`;
  // sub-block 2g's activations are xv[2g] across the lanes (lane 4h + m holds vec4 16g + 4h + m)
  for (let g = 0; g < 4; g++) {
    s += `    {\n      var lo = vec4<f32>(0.0);\n      var hi = vec4<f32>(0.0);\n`;
    for (let h = 0; h < 2; h++) {
      s += `      let q${h} = wq[blk.base + ${1 + 2 * g + h}u];\n`;
      for (let m = 0; m < 4; m++) {
        const c = 'xyzw'[m];
        s += `      lo += nib_lanes(q${h}.${c}) * subgroupBroadcast(xv[${2 * g}], ${4 * h + m}u);\n`;
        s += `      hi += nib_lanes(q${h}.${c} >> 4u) * subgroupBroadcast(xv[${2 * g + 1}], ${4 * h + m}u);\n`;
      }
    }
    s += `      let sm = kq_scale_min(blk.head, ${g}u);\n      acc += blk.dm.x * (sm.x * hsum(lo) + sm.z * hsum(hi)) - blk.dm.y * (sm.y * xsum[${2 * g}] + sm.w * xsum[${2 * g + 1}]);\n    }\n`;
  }
  return `${s}  }\n  if (gid.x < params.rows) { y[gid.x] = acc; }\n}\n`;
}

/** The ubo GEMV: one row per lane, x from a uniform buffer (every lane reads the same address). */
const uboShader = `@group(0) @binding(2) var<uniform> x: array<vec4<f32>, ${k / 4}>;
@compute @workgroup_size(8)
fn ubo(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = min(gid.x, params.rows - 1u);
  let nb = params.k / 256u;
  var acc = 0.0;
  for (var b = 0u; b < nb; b++) {
    let blk = block(row, nb, b);
    for (var g = 0u; g < 4u; g++) {
      let o = b * 64u + g * 16u;
      var lo = vec4<f32>(0.0);
      var hi = vec4<f32>(0.0);
      var slo = vec4<f32>(0.0);
      var shi = vec4<f32>(0.0);
      for (var h = 0u; h < 2u; h++) {
        let q = wq[blk.base + 1u + 2u * g + h];
        let a = array<vec4<f32>, 8>(x[o + 4u * h], x[o + 4u * h + 1u], x[o + 4u * h + 2u], x[o + 4u * h + 3u], x[o + 8u + 4u * h], x[o + 9u + 4u * h], x[o + 10u + 4u * h], x[o + 11u + 4u * h]);
        lo += (nib_lo(q.x) * a[0] + nib_lo(q.y) * a[1]) + (nib_lo(q.z) * a[2] + nib_lo(q.w) * a[3]);
        hi += (nib_hi(q.x) * a[4] + nib_hi(q.y) * a[5]) + (nib_hi(q.z) * a[6] + nib_hi(q.w) * a[7]);
        slo += (a[0] + a[1]) + (a[2] + a[3]);
        shi += (a[4] + a[5]) + (a[6] + a[7]);
      }
      let sm = kq_scale_min(blk.head, g);
      acc += blk.dm.x * (sm.x * hsum(lo) + sm.z * hsum(hi)) - blk.dm.y * (sm.y * hsum(slo) + sm.w * hsum(shi));
    }
  }
  if (gid.x < params.rows) { y[gid.x] = acc; }
}
`;


async function main(): Promise<void> {
  process.env.MESA_SHADER_CACHE_DISABLE ??= 'true';
  const { device, capabilities } = await openNodeDevice();
  if (!device.features.has('subgroups')) throw new Error('lavapipe-probe: the bcast probe needs the subgroups feature');
  const rng = new Rng(3);
  const rowBytes = weightRowBytes('Q4_K', k).blocks;
  const blocks = new Uint8Array(rows * rowBytes);
  const words = new Uint32Array(blocks.buffer);
  for (let i = 0; i < words.length; i++) words[i] = (rng.next() * 2 ** 32) >>> 0;
  for (let o = 0; o < blocks.length; o += 144) words[o / 4] = 0x14001800; // d = 2^-10, dmin = 2^-12
  const upload = (data: ArrayBufferView, usage: number) => {
    const b = device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: usage | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  };
  const wbuf = upload(blocks, GPUBufferUsage.STORAGE);
  const xs = Float32Array.from({ length: k }, () => rng.next() * 2 - 1);
  const xbuf = upload(xs, GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM);
  const ybuf = device.createBuffer({ size: rows * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const params = upload(new Uint32Array([k, rows, 0, 0]), GPUBufferUsage.UNIFORM);

  interface Probe { name: string; gemv: boolean; encode: (p: GPUComputePassEncoder) => void; ms: number[]; cpu: number[] }
  const list: Probe[] = [];
  const add = (name: string, code: string, withX: boolean, gemv: boolean) => {
    const module = device.createShaderModule({ code: `enable subgroups;\n${common}\n${probes}\n${code}` });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: name } });
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: wbuf } },
      { binding: 3, resource: { buffer: ybuf } },
      { binding: 4, resource: { buffer: params } },
    ];
    if (withX) entries.push({ binding: 2, resource: { buffer: xbuf } });
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    list.push({ name, gemv, ms: [], cpu: [], encode: (p) => { p.setPipeline(pipeline); p.setBindGroup(0, group); p.dispatchWorkgroups(Math.ceil(rows / 8)); } });
  };
  for (const name of ['load', 'decode', 'scaled']) add(name, '', false, false);
  add('bcast', bcastShader(), true, true);
  add('ubo', uboShader, true, true);
  const t = decodeTuning(capabilities.adapter, true);
  const tuning = fitShape(t.matvec, k / formatInfo('Q4_K').chunk, t.balanceChunks); // as the engine gets it
  const tuned = new MatvecKernel(device, 'Q4_K', tuning);
  const tparams = tuned.createParams(k, rows);
  const tgroup = tuned.bind({ format: 'Q4_K', k, rows, blocks: wbuf }, xbuf, ybuf, tparams);
  list.push({ name: `tuned ${tuning.workgroupSize}x${tuning.rowsPerWorkgroup}`, gemv: true, ms: [], cpu: [], encode: (p) => tuned.encode(p, tgroup, rows) });

  // CPU reference for the GEMVs
  const want = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const w = dequantizeQ4_K(blocks.subarray(r * rowBytes, (r + 1) * rowBytes), k);
    let s = 0;
    for (let i = 0; i < k; i++) s += w[i] * xs[i];
    want[r] = s;
  }
  const errors = new Map<string, number>();
  for (const p of list) {
    await timeDispatch(device, p.encode); // compile and first touch
    if (!p.gemv) continue;
    const st = device.createBuffer({ size: rows * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(ybuf, 0, st, 0, rows * 4);
    device.queue.submit([enc.finish()]);
    await st.mapAsync(GPUMapMode.READ);
    const got = new Float32Array(st.getMappedRange().slice(0));
    st.destroy();
    let worst = 0;
    for (let r = 0; r < rows; r++) worst = Math.max(worst, Math.abs(got[r] - want[r]) / (1 + Math.abs(want[r])));
    errors.set(p.name, worst);
    if (!(worst < 1e-4)) throw new Error(`lavapipe-probe: ${p.name} disagrees with the CPU (relative error ${worst})`);
  }

  const stream = new StreamReadKernel(device);
  const partials = stream.createPartials();
  const sgroup = stream.bind(wbuf, partials);
  const sms: number[] = [];
  const scpu: number[] = [];
  await timeDispatch(device, (p) => stream.encode(p, sgroup)); // compile and first touch
  for (let i = 0; i < runs; i++) {
    const st = await timeDispatch(device, (p) => stream.encode(p, sgroup));
    sms.push(st.ms);
    scpu.push(st.cpuMs);
    for (const p of list) {
      const pt = await timeDispatch(device, p.encode);
      p.ms.push(pt.ms);
      p.cpu.push(pt.cpuMs);
    }
  }
  console.log(`adapter: ${adapterName(capabilities.adapter)}; Q4_K ${rows} x ${k} (${(blocks.length / 1e6).toFixed(1)} MB); ${runs} runs`);
  console.log('| probe | ms | cpu ms | cpu ratio to the streaming read | max rel. error vs CPU |');
  console.log('|---|---|---|---|---|');
  console.log(`| streaming read | ${median(sms).toFixed(2)} | ${median(scpu).toFixed(1)} | 1 | |`);
  for (const p of list) {
    const e = errors.get(p.name);
    console.log(`| ${p.name} | ${median(p.ms).toFixed(2)} | ${median(p.cpu).toFixed(1)} | ${(median(scpu) / median(p.cpu)).toFixed(3)} | ${e === undefined ? '' : e.toExponential(1)} |`);
  }
  device.destroy();
}

await main();
