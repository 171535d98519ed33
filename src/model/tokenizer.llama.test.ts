/**
 * Our tokenizer against llama.cpp itself (through node-llama-cpp's prebuilt CPU binary), on
 * Phi-3's real vocabulary written to a vocab-only GGUF. Breaks if any step of the SPM encode
 * (partition, RSTRIP, space prefix, merge order, byte fallback), the per-token attributes, or
 * the detokenizer drifts from llama.cpp.
 *
 * node-llama-cpp's `tokenize(text, special)` is `common_tokenize(vocab, text, add_special=false,
 * parse_special=special)`; `detokenize(ids, special)` is `llama_detokenize(remove_special=false,
 * unparse_special=special)`. JS strings reach C++ through N-API's UTF-8 conversion, which turns
 * lone surrogates into U+FFFD, and come back through V8's UTF-8 decoder (invalid bytes -> U+FFFD).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { Rng } from '../util/rng.ts';
import { PHI3_CHAT_TEMPLATE, phi3VocabGGUF, phi3VocabObject } from '../../scripts/phi3-vocab.ts';
import { SPECIAL_TEXTS, textCorpus } from '../../scripts/bench-tokenizer.ts';
import { encodeChat, renderChat, type ChatMessage } from './chat-template.ts';
import { Tokenizer } from './tokenizer.ts';
import { TokenAttr } from './vocab.ts';

const CORPUS_SIZE = 2400; // 200 strings in each of 12 categories

let dir: string;
let llama: Llama;
let model: LlamaModel;
const tok = new Tokenizer(phi3VocabObject());

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'phi3-vocab-'));
  const path = join(dir, 'phi3-vocab.gguf');
  writeFileSync(path, phi3VocabGGUF());
  llama = await getLlama({
    gpu: false,
    build: 'never',
    logLevel: LlamaLogLevel.error,
    // node-llama-cpp first simulates a full load to estimate memory; on a vocab-only file that
    // fails with these two lines before the real (vocab-only) load succeeds.
    logger: (level, message) => {
      if (!/missing tensor 'token_embd\.weight'|failed to load model/.test(message)) console.error(`[llama.cpp ${level}] ${message}`);
    },
  });
  model = await llama.loadModel({ modelPath: path, vocabOnly: true });
});

afterAll(async () => {
  await model?.dispose();
  await llama?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function show(s: string): string {
  return JSON.stringify(s).slice(0, 200);
}

describe('tokenizer == llama.cpp', () => {
  it('gives every token the attributes llama.cpp gives it', () => {
    const flags: [keyof typeof TokenAttr, (id: number) => boolean][] = [
      ['UNKNOWN', (id) => model.getTokenAttributes(id as Token).unknown],
      ['UNUSED', (id) => model.getTokenAttributes(id as Token).unused],
      ['NORMAL', (id) => model.getTokenAttributes(id as Token).normal],
      ['CONTROL', (id) => model.getTokenAttributes(id as Token).control],
      ['USER_DEFINED', (id) => model.getTokenAttributes(id as Token).userDefined],
      ['BYTE', (id) => model.getTokenAttributes(id as Token).byte],
      ['LSTRIP', (id) => model.getTokenAttributes(id as Token).lstrip],
      ['RSTRIP', (id) => model.getTokenAttributes(id as Token).rstrip],
    ];
    const bad: string[] = [];
    for (let id = 0; id < tok.size; id++) {
      for (const [name, get] of flags) {
        if (((tok.attrs[id] & TokenAttr[name]) !== 0) !== get(id)) bad.push(`${id} ${tok.vocab.tokens[id]} ${name}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it(`encodes a ${CORPUS_SIZE}-string corpus identically, both parse_special modes, with and without BOS`, () => {
    const corpus = textCorpus(20240501, CORPUS_SIZE);
    // Every special text alone, and each pair around whitespace: partition and RSTRIP edge cases.
    for (const a of SPECIAL_TEXTS) {
      corpus.push({ cat: 'special', text: a });
      for (const b of SPECIAL_TEXTS) corpus.push({ cat: 'special', text: `${a} \n\t${b}x` });
    }
    const mismatches: string[] = [];
    let compared = 0;
    for (const { cat, text } of corpus) {
      for (const parseSpecial of [false, true]) {
        const ref = model.tokenize(text, parseSpecial);
        const ours = tok.encode(text, { addSpecial: false, parseSpecial });
        const withBos = tok.encode(text, { addSpecial: true, parseSpecial });
        compared++;
        if (JSON.stringify(ours) !== JSON.stringify(ref) || JSON.stringify(withBos) !== JSON.stringify([1, ...ref])) {
          mismatches.push(`${cat} special=${parseSpecial} ${show(text)}\n  llama ${JSON.stringify(ref)}\n  ours  ${JSON.stringify(ours)}`);
        }
      }
    }
    console.log(`tokenizer.llama: compared ${corpus.length} strings x 2 parse_special modes = ${compared} encodings, ${mismatches.length} mismatches`);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('decodes identically: corpus encodings and random id sequences, with and without specials', () => {
    const rng = new Rng(7);
    const seqs: number[][] = textCorpus(99, 600).map(({ text }) => model.tokenize(text, true));
    for (let i = 0; i < 600; i++) {
      // Random ids biased toward byte tokens (broken UTF-8), specials and space pieces.
      seqs.push(Array.from({ length: rng.int(1, 12) }, () => {
        const r = rng.next();
        if (r < 0.4) return rng.int(3, 258);
        if (r < 0.55) return rng.int(0, 2);
        if (r < 0.7) return rng.int(32000, 32063);
        if (r < 0.8) return pickSpace(rng);
        return rng.int(259, 31999);
      }));
    }
    const mismatches: string[] = [];
    for (const ids of seqs) {
      for (const special of [false, true]) {
        const ref = model.detokenize(ids as Token[], special);
        const ours = tok.decode(ids, { unparseSpecial: special });
        if (ours !== ref) mismatches.push(`${JSON.stringify(ids)} special=${special}\n  llama ${show(ref)}\n  ours  ${show(ours)}`);
      }
    }
    console.log(`tokenizer.llama: compared ${seqs.length} id sequences x 2 modes (decode), ${mismatches.length} mismatches`);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});

describe('chat prompts == llama.cpp', () => {
  it('confirms the PHI3.md 6.4 ids', () => {
    const sys = '<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n<|assistant|>\n';
    expect([1, ...model.tokenize(sys, true)]).toEqual(
      [1, 32006, 887, 526, 263, 8444, 20255, 29889, 32007, 32010, 15043, 29991, 32007, 32001]);
    const knight = '<|user|>\nHow to explain Internet for a medieval knight?<|end|>\n<|assistant|>\n';
    expect([1, ...model.tokenize(knight, true)]).toEqual(
      [1, 32010, 1128, 304, 5649, 4685, 363, 263, 27690, 889, 523, 29973, 32007, 32001]);
  });

  it('encodeChat equals llama.cpp on the rendered prompt when content has no special text', () => {
    const corpus = textCorpus(31, 900).filter((c) => !/<\|[a-z0-9]+\|>|<\/?s>|<unk>|\[PAD\d+\]/.test(c.text));
    let n = 0;
    for (let i = 0; i + 2 < corpus.length; i += 3) {
      const msgs: ChatMessage[] = [
        { role: 'system', content: corpus[i].text },
        { role: 'user', content: corpus[i + 1].text },
        { role: 'assistant', content: corpus[i + 2].text },
      ];
      for (const addGenerationPrompt of [true, false]) {
        const o = { template: PHI3_CHAT_TEMPLATE, addGenerationPrompt, bosToken: '<s>', eosToken: '<|endoftext|>' };
        expect(encodeChat(tok, msgs, o)).toEqual([1, ...model.tokenize(renderChat(msgs, o), true)]);
        n++;
      }
    }
    console.log(`tokenizer.llama: compared ${n} chat prompts`);
    expect(n).toBeGreaterThan(400);
  });
});

function pickSpace(rng: Rng): number {
  return [29871, 259, 1678, 268, 29871][rng.int(0, 4)];
}
