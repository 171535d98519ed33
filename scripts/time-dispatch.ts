/**
 * One compute pass, submitted alone and waited on: its wall time and the process's CPU time
 * (all threads: lavapipe and SwiftShader run the shaders on this process's threads, so on a CPU
 * driver CPU time is the work done, much less sensitive to other load than wall time).
 * For the kernel benchmarks (bench-kernels.ts, lavapipe-probe.ts).
 */
export async function timeDispatch(device: GPUDevice, encode: (pass: GPUComputePassEncoder) => void): Promise<{ ms: number; cpuMs: number }> {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encode(pass);
  pass.end();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000 };
}
