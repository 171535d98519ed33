/**
 * StreamDecoder: streamed text == one-shot decode at every split point, and a multi-byte
 * character split across BYTE tokens is never released half-done.
 */
import { describe, expect, it } from 'vitest';
import { phi3VocabObject } from '../../scripts/phi3-vocab.ts';
import { textCorpus } from '../../scripts/bench-tokenizer.ts';
import { Rng } from '../util/rng.ts';
import { StreamDecoder } from './detokenizer.ts';
import { Tokenizer } from './tokenizer.ts';
import { BpeTokenizer } from './bpe-tokenizer.ts';
import { bpeVocabObject } from '../../scripts/bpe-vocab.ts';
import { bpeSmallVocab } from '../../scripts/bpe-small-vocab.ts';

const tok = new Tokenizer(phi3VocabObject());

/** One-shot reference without the first-token space removal: plain UTF-8 decode of all pieces. */
function plainDecode(ids: number[]): string {
  const bytes = ids.flatMap((id) => [...tok.pieceBytes(id, false)]);
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(bytes));
}

/**
 * For every k: pushing ids[0..k) and flushing equals the one-shot decode of ids[0..k), and the
 * text released before the flush is a prefix of the full text (nothing is ever taken back).
 */
function checkAllSplits(ids: number[], strip: boolean): void {
  const full = strip ? tok.decode(ids) : plainDecode(ids);
  for (let k = 0; k <= ids.length; k++) {
    const d = new StreamDecoder(tok, { stripLeadingSpace: strip });
    let out = '';
    for (let i = 0; i < k; i++) out += d.push(ids[i]);
    expect(full.startsWith(out)).toBe(true);
    const prefix = ids.slice(0, k);
    expect(out + d.flush()).toBe(strip ? tok.decode(prefix) : plainDecode(prefix));
  }
}

describe('StreamDecoder', () => {
  it('holds back a 4-byte emoji until its last byte token', () => {
    const ids = tok.encode('Hi 😀!', { addSpecial: false });
    // [▁Hi, ▁, F0, 9F, 98, 80, !]
    expect(ids.slice(2, 6)).toEqual([3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80]);
    const d = new StreamDecoder(tok, { stripLeadingSpace: true });
    expect(ids.map((id) => d.push(id))).toEqual(['Hi', ' ', '', '', '', '😀', '!']);
    expect(d.flush()).toBe('');
  });

  it('gives nothing for control tokens, literal text is never produced from them', () => {
    const d = new StreamDecoder(tok);
    expect([1, 32007, 32000, 32001, 2, 32011].map((id) => d.push(id)).join('')).toBe('');
  });

  it('strips one leading space once, only from the first token (llama.cpp detokenize)', () => {
    const d = new StreamDecoder(tok, { stripLeadingSpace: true });
    expect(d.push(15043)).toBe('Hello'); // ▁Hello
    expect(d.push(15043)).toBe(' Hello');
    const e = new StreamDecoder(tok, { stripLeadingSpace: true });
    expect(e.push(32007) + e.push(15043)).toBe(' Hello'); // first token was a control token
  });

  it('equals one-shot decode at every split point: emoji, CJK, RTL via byte fallback', () => {
    const texts = [
      '👨‍👩‍👧‍👦 family, 🇫🇷 flag, 𠀀𪚥 astral CJK, 龍飛鳳舞',
      '東京は日本の首都です。안녕하세요 مرحبا שלום',
      'e\u0301 n\u0303 \u0915\u094D\u0937 \uFEFF bom 🫠',
    ];
    for (const t of texts) {
      const ids = tok.encode(t, { addSpecial: false });
      expect(ids.some((id) => id >= 3 && id <= 258)).toBe(true); // exercises byte tokens
      checkAllSplits(ids, true);
      checkAllSplits(ids, false);
    }
  });

  it('equals one-shot decode on a seeded corpus and on random byte soup (invalid UTF-8 -> U+FFFD)', () => {
    for (const { text } of textCorpus(3, 120)) checkAllSplits(tok.encode(text, { parseSpecial: true }), true);
    const rng = new Rng(42);
    for (let n = 0; n < 200; n++) {
      const ids = Array.from({ length: rng.int(1, 10) }, () =>
        rng.next() < 0.7 ? 3 + rng.int(0x80, 0xff) : rng.int(0, 32063));
      checkAllSplits(ids, n % 2 === 0);
    }
  });
});

describe('StreamDecoder on a byte-level BPE vocab', () => {
  const bpe = new BpeTokenizer(bpeVocabObject(bpeSmallVocab()));

  it('keeps the leading space (the vocab adds no space prefix) and holds back split characters', () => {
    const ids = bpe.encode(' Hello 😀 東京', { addSpecial: false });
    const d = new StreamDecoder(bpe, { stripLeadingSpace: true });
    const parts = ids.map((id) => d.push(id));
    expect(parts.join('') + d.flush()).toBe(' Hello 😀 東京');
    expect(bpe.decode(ids)).toBe(' Hello 😀 東京');
    // No part ends inside a character: a split character is held back until it is complete.
    expect(parts.every((p) => !/[\uD800-\uDBFF]$/.test(p) && !p.includes('\uFFFD'))).toBe(true);
  });
});
