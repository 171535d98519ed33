import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { VitePWA } from 'vite-plugin-pwa';
import type { Plugin } from 'vite';
import { contentSecurityPolicy, modelSources } from './src/ui/csp.ts';

// The Content-Security-Policy (src/ui/csp.ts says what it allows and why). VITE_MODEL_HOSTS adds model hosts.
const CSP = contentSecurityPolicy(modelSources(process.env.VITE_MODEL_HOSTS));

/**
 * Writes the policy into the built index.html (static hosts cannot always set headers; the service
 * worker serves this HTML offline). Build only: the dev server injects an inline React Refresh
 * preamble and talks HMR over a WebSocket, which this policy rightly forbids.
 */
function cspMeta(): Plugin {
  return {
    name: 'csp-meta',
    apply: 'build',
    transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CSP }, injectTo: 'head-prepend' }],
  };
}

export default defineConfig({
  plugins: [
    react(),
    cspMeta(),
    // The service worker precaches the app shell only (HTML, JS, CSS, icons); model weights live in
    // IndexedDB, never in the Cache Storage. A new version waits for the user's OK (update prompt).
    VitePWA({
      registerType: 'prompt',
      injectRegister: false,
      includeAssets: ['apple-touch-icon.png'],
      manifest: {
        name: 'Phi-3 Local Chat',
        short_name: 'Phi-3 Chat',
        description: 'Chat with Phi-3-mini entirely on your own GPU. Private, offline, installable.',
        theme_color: '#2f5bd3',
        background_color: '#141518',
        display: 'standalone',
        start_url: '.',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,png,svg,webmanifest}'],
        globIgnores: ['**/*.gguf'],
        navigateFallback: 'index.html',
        cleanupOutdatedCaches: true,
        maximumFileSizeToCacheInBytes: 8 * 2 ** 20,
      },
    }),
  ],
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true },
  // A <meta> policy does not reach workers: a worker takes the policy of its own script's response,
  // so the preview server sends it as a header on every response (the engine worker downloads models).
  preview: { port: 4173, strictPort: true, headers: { 'Content-Security-Policy': CSP } },
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['scripts/vitest-global-setup.ts'],
    // Each test file gets its own process: a Dawn device per process, nothing shared
    // across files, and a crash in one file cannot take the others with it.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
