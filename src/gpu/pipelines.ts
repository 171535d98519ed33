/**
 * How kernels get their compute pipelines.
 *
 * Outside a background scope a kernel's pipeline is compiled when the kernel is made
 * (createComputePipeline), as tests and tools expect. Inside `compileInBackground(device, build)`
 * every kernel that `build` makes starts createComputePipelineAsync instead, and the scope's
 * `compiled` promise settles when all of them have. The engine makes its kernels that way before
 * it uploads the weights, so a driver that compiles at pipeline creation does it while the
 * weights stream in. A driver that compiles at a pipeline's first dispatch instead gains nothing
 * here; the worker's warm-up step after load covers it.
 */

/** A compute pipeline that may still be compiling. */
export class CompiledPipeline {
  private value?: GPUComputePipeline;

  private constructor(readonly label: string) {}

  /** Compiled now. */
  static now(device: GPUDevice, desc: GPUComputePipelineDescriptor): CompiledPipeline {
    const c = new CompiledPipeline(desc.label ?? 'pipeline');
    c.value = device.createComputePipeline(desc);
    return c;
  }

  /** Compiling in the background; `ready` settles when it has (rejects with the compiler's error). */
  static later(device: GPUDevice, desc: GPUComputePipelineDescriptor): { pipeline: CompiledPipeline; ready: Promise<void> } {
    const c = new CompiledPipeline(desc.label ?? 'pipeline');
    const ready = device.createComputePipelineAsync(desc).then(
      (p) => {
        c.value = p;
      },
      (e: unknown) => {
        throw new Error(`${c.label}: the pipeline did not compile: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      },
    );
    return { pipeline: c, ready };
  }

  /** The pipeline; throws if it is still compiling (a missing `await compiled` is a bug). */
  get(): GPUComputePipeline {
    if (!this.value) throw new Error(`${this.label}: pipeline used before it finished compiling (await the compileInBackground scope first)`);
    return this.value;
  }
}

// Devices inside a compileInBackground scope, with the compiles started there. The scope is
// synchronous, so nothing else runs while it is set.
const scopes = new WeakMap<GPUDevice, Promise<void>[]>();

/** A kernel's pipeline: compiled now, or in the background inside a compileInBackground scope. */
export function compileCompute(device: GPUDevice, desc: GPUComputePipelineDescriptor): CompiledPipeline {
  const pending = scopes.get(device);
  if (!pending) return CompiledPipeline.now(device, desc);
  const { pipeline, ready } = CompiledPipeline.later(device, desc);
  pending.push(ready);
  return pipeline;
}

/**
 * Runs `build` with this device's kernel pipelines compiled in the background. `compiled` settles
 * once every one of them has compiled, or rejects with the first failure (after all have settled,
 * so nothing is left compiling behind the error).
 */
export function compileInBackground<T>(device: GPUDevice, build: () => T): { value: T; compiled: Promise<void> } {
  if (scopes.has(device)) throw new Error('compileInBackground: scopes do not nest');
  const pending: Promise<void>[] = [];
  scopes.set(device, pending);
  try {
    const value = build();
    return { value, compiled: settleAll(pending) };
  } catch (e) {
    // let the compiles already started finish quietly; the caller gets build's error
    void settleAll(pending).catch(() => undefined);
    throw e;
  } finally {
    scopes.delete(device);
  }
}

/** Waits for every promise, then rejects with the first rejection, if any. */
export async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
