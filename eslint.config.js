// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';

/**
 * Imports flow one way between the rooms of src/ (src/ARCHITECTURE.md):
 *   ui -> client -> worker -> engine/store -> kernels -> gpu;  model, util and common at the bottom.
 * `common` holds what every room shares (public errors, sampling settings, the model catalog, size
 * formatting) and imports nothing from the other rooms.
 * Each zone below says which rooms a room may NOT import from.
 */
const rooms = ['ui', 'client', 'worker', 'engine', 'kernels', 'gpu', 'model', 'store', 'util', 'common'];
const allowed = {
  ui: ['client', 'util', 'common'],
  client: ['util', 'common'],
  worker: ['engine', 'store', 'model', 'gpu', 'kernels', 'util', 'common'],
  engine: ['kernels', 'model', 'gpu', 'util', 'common'],
  store: ['model', 'util', 'common'],
  kernels: ['gpu', 'util', 'common'],
  gpu: ['util', 'common'],
  model: ['util', 'common'],
  util: ['common'],
  common: [],
};
const zones = [];
for (const room of rooms) {
  for (const other of rooms) {
    if (other === room || allowed[room].includes(other)) continue;
    // ui and client may import the worker boundary's contract, protocol.ts (types only: see below), nothing else there.
    const except = other === 'worker' && (room === 'ui' || room === 'client') ? ['./protocol.ts'] : [];
    zones.push({ target: `./src/${room}`, from: `./src/${other}`, except, message: `${room}/ may not import from ${other}/` });
  }
}

export default tseslint.config(
  { ignores: ['dist/**', 'dist-*/**', 'test-results-*/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', 'models/**', '.cache/**', 'dev-dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX, 'react-hooks': reactHooks },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/extensions': ['.ts', '.tsx', '.js'],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'warn',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The worker boundary's contract is types only, so ui/ and client/ can take nothing else from worker/ through it.
    files: ['src/worker/protocol.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...[
          'ImportDeclaration[importKind="value"]',
          'ExportNamedDeclaration[exportKind="value"]',
          'ExportAllDeclaration[exportKind="value"]',
          'ExportDefaultDeclaration',
        ].map((selector) => ({ selector, message: 'protocol.ts is the worker boundary\'s contract: types only (import type / export type, interfaces)' })),
      ],
    },
  },
  {
    files: ['src/ui/**', 'src/client/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/worker/*'], allowTypeImports: true, message: 'ui/ and client/ take only types from the worker boundary (protocol.ts)' }] },
      ],
    },
  },
  {
    // Kernel tests and their helpers (test-*.ts) build weights with the model's quant codecs and
    // repacker, as the engine does: they may import src/model/ too.
    files: ['src/kernels/**/*.test.ts', 'src/kernels/**/test-*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: zones.filter((z) => !(z.target === './src/kernels' && z.from === './src/model')) }],
    },
  },
  {
    files: ['scripts/**', 'e2e/**', '*.config.ts', '*.config.js'],
    languageOptions: { globals: { ...globals.node } },
  },
);
