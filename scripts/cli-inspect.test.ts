/** The inspect command and the CLI dispatcher. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { GGMLType, GGUFValueType } from '../src/model/gguf.ts';
import { fixtureFile } from '../src/model/test-gguf.ts';
import { GGUFWriter, writeGGUFToBuffer } from '../src/model/gguf-write.ts';
import { inspectCommand, toJson } from './cli-inspect.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = join(dir, 'm.gguf');
writeFileSync(model, fixtureFile({ nKvHeads: 2 }));

describe('inspect', () => {
  it('reports header, summarized metadata, config and tensor table', async () => {
    const lines: string[] = [];
    const r = await inspectCommand([model], (s) => void lines.push(s));
    expect(JSON.parse(lines.join('\n'))).toEqual(JSON.parse(JSON.stringify(r)));
    expect(r).toMatchObject({ version: 3, alignment: 32, configError: null });
    expect(r.metadata['tokenizer.ggml.tokens']).toEqual({ type: 'string[]', length: 300, head: ['<unk>', '<s>', '</s>', '<0x00>', '<0x01>', '<0x02>', '<0x03>', '<0x04>'] });
    expect(r.metadata['tokenizer.ggml.scores']).toMatchObject({ type: 'f32[]', length: 300 });
    expect(r.config).toMatchObject({ arch: 'phi3', nKvHeads: 2, vocabSize: 300 });
    expect(r.tensors[0]).toEqual({ name: 'token_embd.weight', type: 'F16', dims: [64, 300], offset: 0, nbytes: 38400 });
  });

  it('prints big 64-bit values as strings, short arrays inline, and a config error instead of a config', async () => {
    const w = new GGUFWriter();
    w.addKV('general.architecture', GGUFValueType.STRING, 'gemma');
    w.addKV('big', GGUFValueType.UINT64, 2n ** 64n - 1n);
    w.addKV('few', GGUFValueType.ARRAY, [1n, 2n], GGUFValueType.INT64);
    w.addTensorInfo('x', GGMLType.Q8_0, [32]);
    const path = join(dir, 'other.gguf');
    writeFileSync(path, writeGGUFToBuffer(w));
    const r = await inspectCommand([path], () => {});
    expect(r.metadata.big).toBe('18446744073709551615');
    expect(r.metadata.few).toEqual(['1', '2']);
    expect(r.config).toBeNull();
    expect(r.configError).toMatch(/^ModelFormatError: .*architecture "gemma" is not supported/);
    expect(r.tensors).toEqual([{ name: 'x', type: 'Q8_0', dims: [32], offset: 0, nbytes: 34 }]);
  });

  it('keeps the JSON exact when inlining arrays, whatever the strings hold', () => {
    const v = { a: ['[ x', ', ]', '"q"'], b: [[1, 2], { c: [3] }], s: '@@array-0' };
    expect(JSON.parse(toJson(v))).toEqual(v);
    expect(toJson({ d: [1, 2] })).toBe('{\n  "d": [1, 2]\n}');
  });

  it('rejects wrong arguments', async () => {
    await expect(inspectCommand([], () => {})).rejects.toThrow(/usage: inspect FILE.gguf/);
  });
});

describe('cli dispatcher', () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/cli.ts', ...args], { cwd: process.cwd() }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('runs inspect, exits 2 with usage on an unknown command, 1 on a bad file', async () => {
    const ok = await run(['inspect', model]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).config.arch).toBe('phi3');
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"[\s\S]*inspect FILE.gguf/);
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, 'GGML and then some');
    const failed = await run(['inspect', bad]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/inspect: ModelFormatError: GGUF: magic: bad magic/);
  });
});
