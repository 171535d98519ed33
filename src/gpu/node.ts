/**
 * A real WebGPU device in Node: Dawn (the `webgpu` npm package) on a Vulkan driver that runs on
 * the CPU. Used by tests, the CLI and the benchmarks; never bundled into the app.
 *
 * Driver choice: `WEBGPU_ICD` may name a Vulkan ICD JSON file, or `lavapipe` / `swiftshader`.
 * Otherwise an already-set `VK_ICD_FILENAMES` is kept, and failing that we look for Mesa's
 * lavapipe (`lvp_icd*.json`), then Chromium's SwiftShader. No adapter is an error, never a skip.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import { adapterName, openDevice, type OpenDeviceOptions, type OpenedDevice } from './device.ts';

const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json'];

function findLavapipe(): string | undefined {
  for (const dir of ICD_DIRS) {
    if (!existsSync(dir)) continue;
    const hit = readdirSync(dir).find((f) => /^lvp_icd.*\.json$/.test(f));
    if (hit) return join(dir, hit);
  }
  return undefined;
}

function findSwiftShader(): string | undefined {
  return SWIFTSHADER_ICDS.find((p) => existsSync(p));
}

/** Resolves the Vulkan ICD to use, or throws with what to install. */
export function resolveIcd(env: NodeJS.ProcessEnv = process.env): string {
  const want = env.WEBGPU_ICD?.trim();
  if (want) {
    const path = want === 'lavapipe' ? findLavapipe() : want === 'swiftshader' ? findSwiftShader() : want;
    if (!path || !existsSync(path)) {
      throw new Error(`WEBGPU_ICD=${want}: no such Vulkan ICD file${path ? ` (${path})` : ''}.`);
    }
    return path;
  }
  if (env.VK_ICD_FILENAMES) return env.VK_ICD_FILENAMES;
  const found = findLavapipe() ?? findSwiftShader();
  if (!found) {
    throw new Error(
      'No CPU Vulkan driver found for WebGPU in Node. Install Mesa lavapipe from bookworm-backports ' +
        '(`apt-get install -t bookworm-backports mesa-vulkan-drivers`) or Debian chromium (SwiftShader); ' +
        'see .ci/install-system.sh.',
    );
  }
  return found;
}

// The GPU object returned by create() must stay referenced for the whole life of the process:
// if it is garbage-collected, Dawn tears down its instance under live devices and the process
// later crashes or hangs at random. A module-level binding plus globalThis keeps it alive.
let gpuInstance: GPU | undefined;

export function nodeGpu(): GPU {
  if (!gpuInstance) {
    const icd = resolveIcd();
    process.env.VK_ICD_FILENAMES = icd;
    Object.assign(globalThis, globals);
    // Dawn rounds timestamp queries to tens of microseconds (a browser's guard against timing
    // attacks), which zeroes most per-kernel times of a decode step; Node has nothing to guard.
    gpuInstance = create(['disable-dawn-features=timestamp_quantization']);
    (globalThis as { __phi3NodeGpu?: GPU }).__phi3NodeGpu = gpuInstance;
  }
  return gpuInstance;
}

const announced = new Set<string>();

/** Opens a device on the Node GPU and names the adapter once per process on stderr. */
export async function openNodeDevice(opts: OpenDeviceOptions = {}): Promise<OpenedDevice> {
  const opened = await openDevice(nodeGpu(), opts);
  const name = `${adapterName(opened.capabilities.adapter)}; features: ${opened.capabilities.features.join(' ')}`;
  if (!announced.has(name)) {
    announced.add(name);
    process.stderr.write(`[webgpu] adapter: ${name} (ICD ${process.env.VK_ICD_FILENAMES})\n`);
  }
  return opened;
}
