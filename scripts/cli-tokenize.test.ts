/** The tokenize / detokenize CLI commands on the vocab-only Phi-3 GGUF. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detokenizeCommand, tokenizeCommand } from './cli-tokenize.ts';
import { phi3VocabGGUF } from './phi3-vocab.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-tokenize-'));
const model = join(dir, 'vocab.gguf');
writeFileSync(model, phi3VocabGGUF());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cli tokenize / detokenize', () => {
  it('prints ids as JSON, with --special and --bos', async () => {
    const lines: string[] = [];
    const print = (s: string): void => void lines.push(s);
    await tokenizeCommand(['--model', model, '--text', 'Hello world'], print);
    await tokenizeCommand(['--model', model, '--text', '<|user|>\nHi', '--special', '--bos'], print);
    const file = join(dir, 'in.txt');
    writeFileSync(file, '\n');
    await tokenizeCommand(['--model', model, '--file', file], print);
    expect(lines).toEqual(['[15043,3186]', '[1,32010,6324]', '[29871,13]']);
  });

  it('prints text for ids, control tokens only with --special', async () => {
    const lines: string[] = [];
    const print = (s: string): void => void lines.push(s);
    await detokenizeCommand(['--model', model, '--ids', '1,32010,15043,3186'], print);
    await detokenizeCommand(['--model', model, '--ids', '1, 32010, 15043', '--special'], print);
    expect(lines).toEqual([' Hello world', '<s><|user|> Hello']);
  });

  it('explains its usage', async () => {
    await expect(tokenizeCommand(['--model', model])).rejects.toThrow(/usage: tokenize/);
    await expect(detokenizeCommand(['--model', model, '--ids', '1,x'])).rejects.toThrow(/not a token id/);
  });
});
