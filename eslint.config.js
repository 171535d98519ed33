// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';

/**
 * Imports flow one way between the rooms of src/ (DESIGN.md section 1):
 *   ui -> client -> worker -> engine/store -> kernels -> gpu;  model and util at the bottom.
 * Each zone below says which rooms a room may NOT import from.
 */
const rooms = ['ui', 'client', 'worker', 'engine', 'kernels', 'gpu', 'model', 'store', 'util'];
const allowed = {
  ui: ['client', 'util'],
  client: ['util'],
  worker: ['engine', 'store', 'model', 'gpu', 'kernels', 'util'],
  engine: ['kernels', 'model', 'gpu', 'util'],
  store: ['model', 'util'],
  kernels: ['gpu', 'util'],
  gpu: ['util'],
  model: ['util'],
  util: [],
};
const zones = [];
for (const room of rooms) {
  for (const other of rooms) {
    if (other === room || allowed[room].includes(other)) continue;
    // ui and client may use the shared protocol types of the worker boundary, nothing else there.
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
