/**
 * The header check refuses, before a download completes, a model whose tokenizer we cannot run:
 * the same ModelFormatError a load would give, naming the unsupported key's value.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpeSmallVocab } from '../../scripts/bpe-small-vocab.ts';
import { makeTestModel } from '../../scripts/make-test-model.ts';
import { ModelFormatError } from '../common/errors.ts';
import { bufferSource } from '../model/gguf-sources.ts';
import { checkHeader } from './header-check.ts';

const dir = join(tmpdir(), `header-check-${process.pid}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The file's bytes with the first occurrence of `from` replaced by `to` (same UTF-8 length, so offsets hold). */
function patched(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const s = Buffer.from(bytes).toString('latin1');
  const at = s.indexOf(from);
  expect(at).toBeGreaterThan(0);
  expect(to.length).toBe(from.length);
  return Uint8Array.from(Buffer.from(s.slice(0, at) + to + s.slice(at + from.length), 'latin1'));
}

describe('checkHeader on a byte-level BPE model', () => {
  it('passes the generated file, refuses an unknown pre-tokenizer and missing merges', async () => {
    const made = await makeTestModel({ preset: 'tiny', mix: 'f32', seed: 3, vocab: 'bpe-small' }, join(dir, 'bpe.gguf'));
    const bytes = new Uint8Array(readFileSync(made.path));
    await expect(checkHeader(bufferSource(bytes))).resolves.toMatchObject({ config: { vocabSize: bpeSmallVocab().tokens.length } });

    const unknownPre = checkHeader(bufferSource(patched(bytes, 'gpt-4o', 'gpt-9z')));
    await expect(unknownPre).rejects.toThrow(ModelFormatError);
    await expect(unknownPre).rejects.toThrow(/unsupported pre-tokenizer "gpt-9z"/);

    const noMerges = checkHeader(bufferSource(patched(bytes, 'tokenizer.ggml.merges', 'tokenizer.ggml.mergez')));
    await expect(noMerges).rejects.toThrow(/tokenizer.ggml.merges is missing/);
  });
});
