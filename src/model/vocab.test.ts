/**
 * Reading the tokenizer from GGUF metadata, and the per-token attributes llama.cpp derives.
 */
import { describe, expect, it } from 'vitest';
import { bpeTokenizerMetadata } from '../../scripts/bpe-vocab.ts';
import { bpeSmallVocab } from '../../scripts/bpe-small-vocab.ts';
import { phi3TokenizerMetadata, phi3VocabGGUF, phi3VocabObject } from '../../scripts/phi3-vocab.ts';
import { ModelFormatError } from '../common/errors.ts';
import { parseGGUF } from './gguf.ts';
import { TokenAttr, TokenType, tokenAttrs, vocabFromMetadata, type Vocab } from './vocab.ts';

function meta(extra: [string, unknown][] = []): Map<string, unknown> {
  const m = phi3TokenizerMetadata();
  m.set('general.name', 'Phi3');
  for (const [k, v] of extra) m.set(k, v);
  return m;
}

describe('vocabFromMetadata', () => {
  it('reads the phi3 keys', () => {
    const v = vocabFromMetadata(meta());
    expect(v.tokens.length).toBe(32064);
    expect(v.tokens[15043]).toBe('▁Hello');
    expect(v.scores[29871]).toBe(-1e9);
    expect(v.types[32007]).toBe(TokenType.CONTROL);
    expect([v.bosId, v.eosId, v.unkId, v.addBos, v.addSpacePrefix, v.isPhi3]).toEqual([1, 32000, 0, true, true, true]);
  });

  it('reads what the GGUF reader returns for our vocab-only file', async () => {
    const file = await parseGGUF(phi3VocabGGUF());
    const v = vocabFromMetadata(file.metadata);
    const ref = phi3VocabObject();
    // Token 30143 is U+FEFF: a UTF-8 decoder that strips byte-order marks would empty it.
    expect(v.tokens[30143], 'GGUF strings must be decoded with ignoreBOM').toBe('\uFEFF');
    expect(v.tokens).toEqual(ref.tokens);
    expect(v.scores).toEqual(ref.scores);
    expect(v.types).toEqual(ref.types);
    expect(v.isPhi3).toBe(true);
  });

  it('uses llama.cpp SPM defaults for missing optional keys', () => {
    const m = new Map<string, unknown>([['tokenizer.ggml.model', 'llama'], ['tokenizer.ggml.tokens', ['<unk>', '<s>', '</s>', 'a']]]);
    const v = vocabFromMetadata(m);
    expect([v.bosId, v.eosId, v.unkId, v.addBos, v.addSpacePrefix, v.isPhi3]).toEqual([1, 2, 0, true, true, false]);
    expect([...v.types]).toEqual([1, 1, 1, 1]);
    expect(vocabFromMetadata(new Map([...m, ['tokenizer.ggml.add_space_prefix', false], ['tokenizer.ggml.eos_token_id', 3n]])))
      .toMatchObject({ addSpacePrefix: false, eosId: 3 });
  });

  it('recognises Phi-3 by name only (any case, "phi-3" or "phi3"), as llama.cpp does', () => {
    const base = [['tokenizer.ggml.model', 'llama'], ['tokenizer.ggml.tokens', ['a']]] as [string, unknown][];
    const is = (extra: [string, unknown][]): boolean => vocabFromMetadata(new Map([...base, ...extra])).isPhi3;
    expect(is([['general.name', 'Phi-3-mini-4k-instruct']])).toBe(true);
    expect(is([['general.name', 'PHI3 test']])).toBe(true);
    // Phi-4-mini's architecture is phi3, and llama.cpp gives its specials no RSTRIP.
    expect(is([['general.architecture', 'phi3'], ['general.name', 'Phi 4 Mini Instruct']])).toBe(false);
    expect(is([['general.architecture', 'llama'], ['general.name', 'LLaMA v2']])).toBe(false);
  });

  it('names the unsupported tokenizer model', () => {
    expect(() => vocabFromMetadata(meta([['tokenizer.ggml.model', 'bert']]))).toThrow(/unsupported tokenizer model "bert"/);
    expect(() => vocabFromMetadata(meta([['tokenizer.ggml.model', 't5']]))).toThrow(ModelFormatError);
    expect(() => vocabFromMetadata(new Map())).toThrow(/tokenizer.ggml.model is missing/);
  });

  it('rejects arrays whose length disagrees with the token list', () => {
    expect(() => vocabFromMetadata(meta([['tokenizer.ggml.scores', new Float32Array(5)]]))).toThrow(/scores has 5 entries/);
    expect(() => vocabFromMetadata(meta([['tokenizer.ggml.tokens', [1, 2]]]))).toThrow(/array of strings/);
  });
});

describe('tokenAttrs', () => {
  const attrs = tokenAttrs(phi3VocabObject());
  it('marks </s> CONTROL (llama.cpp: control-looking EOG text) on top of USER_DEFINED', () => {
    expect(attrs[2] & TokenAttr.USER_DEFINED).toBeTruthy();
    expect(attrs[2] & TokenAttr.CONTROL).toBeTruthy();
  });
  it('sets RSTRIP on Phi-3 specials and </s>, not on <unk>, <s>, <|endoftext|>, text or bytes', () => {
    const rstrip = (id: number): boolean => (attrs[id] & TokenAttr.RSTRIP) !== 0;
    for (const id of [2, 32001, 32006, 32007, 32010, 32011, 32063]) expect(rstrip(id)).toBe(true);
    for (const id of [0, 1, 32000, 13, 15043]) expect(rstrip(id)).toBe(false);
    const notPhi = tokenAttrs({ ...phi3VocabObject(), isPhi3: false });
    expect(notPhi[32007] & TokenAttr.RSTRIP).toBe(0);
  });
});

describe('vocabFromMetadata, gpt2 (byte-level BPE)', () => {
  const gpt2 = (extra: [string, unknown][] = [], drop: string[] = []): Map<string, unknown> => {
    const m = new Map<string, unknown>(bpeTokenizerMetadata(bpeSmallVocab()));
    for (const k of drop) m.delete(k);
    for (const [k, v] of extra) m.set(k, v);
    return m;
  };

  it('reads the tokenizer keys llama.cpp reads, with its gpt2 defaults', () => {
    const v = vocabFromMetadata(gpt2());
    const ref = bpeSmallVocab();
    expect([v.model, v.pre, v.merges?.length, v.bosId, v.addBos, v.addSpacePrefix]).toEqual(['gpt2', 'gpt-4o', ref.merges.length, ref.bosId, false, false]);
    const bare = vocabFromMetadata(gpt2([], ['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.add_bos_token']));
    expect([bare.bosId, bare.eosId, bare.unkId, bare.addBos]).toEqual([11, 11, -1, false]);
    // The llama3 pre-tokenizers add BOS unless the file says otherwise.
    expect(vocabFromMetadata(gpt2([['tokenizer.ggml.pre', 'llama-bpe']], ['tokenizer.ggml.add_bos_token'])).addBos).toBe(true);
  });

  it('refuses an unknown pre-tokenizer by name; a missing one is "default", as in llama.cpp', () => {
    const bad = (): Vocab => vocabFromMetadata(gpt2([['tokenizer.ggml.pre', 'qwen2']]));
    expect(bad).toThrow(ModelFormatError);
    expect(bad).toThrow(/unsupported pre-tokenizer "qwen2" \(tokenizer.ggml.pre\) for a gpt2 vocabulary: supported are "gpt-4o"/);
    expect(() => vocabFromMetadata(gpt2([['tokenizer.ggml.pre', 'toString']]))).toThrow(/unsupported pre-tokenizer "toString"/);
    expect(vocabFromMetadata(gpt2([], ['tokenizer.ggml.pre'])).pre).toBe('default');
  });

  it('refuses a gpt2 vocabulary without merges, or with merges that are not strings', () => {
    expect(() => vocabFromMetadata(gpt2([], ['tokenizer.ggml.merges']))).toThrow(ModelFormatError);
    expect(() => vocabFromMetadata(gpt2([], ['tokenizer.ggml.merges']))).toThrow(/tokenizer.ggml.merges is missing: a gpt2 \(byte-level BPE\) vocabulary needs its merges/);
    expect(() => vocabFromMetadata(gpt2([['tokenizer.ggml.merges', [1, 2]]]))).toThrow(/merges must be an array of strings/);
  });
});
