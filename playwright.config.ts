import { defineConfig } from '@playwright/test';

/**
 * E2E against the built app (`vite preview`) in Debian's chromium, whose WebGPU runs on
 * SwiftShader (CPU). Playwright's own browser download is never used (no network here).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const QUIET = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run', '--no-default-browser-check'];
const ROOT = typeof process.getuid === 'function' && process.getuid() === 0 ? ['--no-sandbox'] : [];
// Several runs can share the machine: each takes its own port, build directory and results
// directory (defaults: 4173, dist, test-results), e.g. PW_PORT=4181 PW_DIST=dist-a PW_OUT=test-results-a.
const PORT = Number(process.env.PW_PORT ?? 4173);
const DIST = process.env.PW_DIST ?? 'dist';
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader'];

export default defineConfig({
  testDir: 'e2e',
  globalSetup: './e2e/global-setup.ts',
  timeout: 120_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: process.env.PW_OUT ?? 'test-results',
  use: { baseURL: `http://localhost:${PORT}`, trace: 'retain-on-failure' },
  webServer: {
    command: `npx vite preview --outDir ${DIST} --port ${PORT} --strictPort`,
    url: `http://localhost:${PORT}`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
  projects: [
    {
      name: 'webgpu',
      testIgnore: /no-webgpu/,
      use: { browserName: 'chromium', launchOptions: { executablePath: CHROMIUM, args: [...WEBGPU_FLAGS, ...QUIET, ...ROOT] } },
    },
    {
      name: 'no-webgpu',
      testMatch: /no-webgpu/,
      use: { browserName: 'chromium', launchOptions: { executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-features=WebGPU,Vulkan', ...QUIET, ...ROOT] } },
    },
  ],
});
