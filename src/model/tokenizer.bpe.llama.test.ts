/**
 * Our GPT-2 byte-level BPE tokenizer against llama.cpp itself (node-llama-cpp's prebuilt CPU
 * binary), on two vocab-only GGUFs: a small vocabulary with merges learned here, and Phi-4-mini's
 * o200k-based one (scripts/bpe-vocab.ts). Breaks if the gpt-4o pre-tokenizer, the byte mapping,
 * the merge order, the special-token partition, the per-token attributes, the detokenizer or the
 * chat encoding drifts from llama.cpp. See tokenizer.llama.test.ts for how node-llama-cpp's
 * tokenize/detokenize map onto llama.cpp's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { Rng } from '../util/rng.ts';
import { bpeVocabGGUF, bpeVocabObject, o200kVocab, PHI4_MINI_CHAT_TEMPLATE, type BpeVocabData } from '../../scripts/bpe-vocab.ts';
import { bpeSmallVocab } from '../../scripts/bpe-small-vocab.ts';
import { textCorpus } from '../../scripts/bench-tokenizer.ts';
import { BpeTokenizer } from './bpe-tokenizer.ts';
import { encodeChat, renderChat, type ChatMessage } from './chat-template.ts';
import { StreamDecoder } from './detokenizer.ts';
import { TokenAttr } from './vocab.ts';

/** Hand-picked texts: scripts, digit groups, emoji, whitespace runs, code, contractions, specials. */
const FIXED = [
  'Hello world', ' Hello world', 'Hello  world', 'Hello\n\nworld\n', '\n', ' ', '   ', '\t\t x', 'a \n b',
  'The Quick BROWN fox', 'camelCaseWords and HTTPServer', "I'm sure you'll see they're fine, it's John's",
  "DON'T SHOUT'S 'quoted'", "Hello , world . Isn ' t it ? I 'm here , they 're ' ' ok !", '1', '12', '123', '1234', '1234567', '3.14159', '-42 +7 1,000,000', 'x1y22z333',
  '今天天气很好，我们去公园散步吧。', '東京は日本の首都です', '안녕하세요 만나서 반갑습니다',
  'Привет, мир! Как дела?', 'مرحبا بالعالم', 'नमस्ते दुनिया, क्या हाल है?', 'ก\u0e34\u0e4a thai',
  'café naïve e\u0301 n\u0303', '😀👍🏽 👨‍👩‍👧‍👦 🇫🇷', '\u00A0nbsp\u3000ideographic\u2009thin',
  'function add(a, b) {\n  return a + b;\n}\n', '    if x:\n        pass\n', 'path/to/file.ts\r\n', '///***///',
  '<|end|>', '<|user|>hi<|end|><|assistant|>', 'a<|unused_0|>b<|channel|>c', 'x<|endoftext|>y', '<|end', '<|tag|> a <|tag|>', ' <|end|> ',
  '\uD800 lone \uDFFF surrogates', '\u0000\u0001 ctrl', '\u{1F9E0}\u{1FAE9} new emoji',
  // Letters and digits of Unicode 16 (Cyrillic, Garay, Latin) before a contraction: llama.cpp's
  // tables call them unassigned, so the contraction is split off (a letter would keep it).
  "x\u1C89's ab\u{10D4A}'s 7\u{10D40}'s A\uA7CB's",
  "$1,000+ <b>x</b> a^b|c~d `tick` 1234567 ١٢٣٤ 3.14",
  // Long words: thousands of symbols through the merge heap.
  ' '.repeat(3000) + 'x', '今天天气很好我们去公园散步吧'.repeat(200), 'ab'.repeat(2000), '='.repeat(1000) + '\n',
];

interface Case {
  name: string;
  data: () => BpeVocabData;
  corpus: number;
}

const CASES: Case[] = [
  { name: 'small generated', data: bpeSmallVocab, corpus: 600 },
  { name: 'o200k (Phi-4-mini)', data: o200kVocab, corpus: 600 },
  // The llama3 pre-tokenizer: its own split, whole-word tokens before merges, BOS and EOS, clean_spaces.
  {
    name: 'small generated, llama-bpe',
    data: () => ({ ...bpeSmallVocab(), pre: 'llama-bpe', addBos: true, addEos: true, name: 'BPE small llama3' }),
    corpus: 400,
  },
  // GPT-2's split (also Phi-2's), and llama.cpp's "default" chain of four splits; both clean spaces.
  { name: 'small generated, gpt-2', data: () => ({ ...bpeSmallVocab(), pre: 'gpt-2', name: 'BPE small gpt2' }), corpus: 300 },
  { name: 'small generated, default', data: () => ({ ...bpeSmallVocab(), pre: 'default', name: 'BPE small default' }), corpus: 300 },
];

let dir: string;
let llama: Llama;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bpe-vocab-'));
  llama = await getLlama({
    gpu: false,
    build: 'never',
    logLevel: LlamaLogLevel.error,
    logger: (level, message) => {
      if (!/missing tensor 'token_embd\.weight'|failed to load model/.test(message)) console.error(`[llama.cpp ${level}] ${message}`);
    },
  });
});

afterAll(async () => {
  await llama?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function show(s: string): string {
  return JSON.stringify(s).slice(0, 200);
}

describe.each(CASES)('BPE tokenizer == llama.cpp: $name', ({ name, data, corpus }) => {
  let model: LlamaModel;
  let tok: BpeTokenizer;
  let v: BpeVocabData;

  beforeAll(async () => {
    v = data();
    tok = new BpeTokenizer(bpeVocabObject(v));
    const path = join(dir, `${name.replace(/\W+/g, '-')}.gguf`);
    writeFileSync(path, bpeVocabGGUF(v));
    model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  });

  afterAll(async () => {
    await model?.dispose();
  });

  /** What llama.cpp prepends and appends with add_special. */
  const bos = (): number[] => (v.addBos ? [v.bosId] : []);
  const eos = (): number[] => (v.addEos ? [v.eosId] : []);

  it('gives every token the attributes llama.cpp gives it', () => {
    const bad: string[] = [];
    for (let id = 0; id < tok.size; id++) {
      const a = model.getTokenAttributes(id as Token);
      const ref: [keyof typeof TokenAttr, boolean][] = [
        ['UNKNOWN', a.unknown], ['UNUSED', a.unused], ['NORMAL', a.normal], ['CONTROL', a.control],
        ['USER_DEFINED', a.userDefined], ['BYTE', a.byte], ['LSTRIP', a.lstrip], ['RSTRIP', a.rstrip],
      ];
      for (const [flag, want] of ref) if (((tok.attrs[id] & TokenAttr[flag]) !== 0) !== want) bad.push(`${id} ${v.tokens[id]} ${flag}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('encodes the fixed texts and a seeded corpus identically, both parse_special modes', () => {
    const texts = [...FIXED, ...textCorpus(20260602, corpus).map((c) => c.text)];
    const mismatches: string[] = [];
    for (const text of texts) {
      for (const parseSpecial of [false, true]) {
        const ref = model.tokenize(text, parseSpecial);
        const ours = tok.encode(text, { addSpecial: false, parseSpecial });
        const withBos = tok.encode(text, { addSpecial: true, parseSpecial });
        if (JSON.stringify(ours) !== JSON.stringify(ref) || JSON.stringify(withBos) !== JSON.stringify([...bos(), ...ref, ...eos()])) {
          mismatches.push(`special=${parseSpecial} ${show(text)}\n  llama ${JSON.stringify(ref)}\n  ours  ${JSON.stringify(ours)}`);
        }
      }
    }
    console.log(`tokenizer.bpe.llama (${name}): ${texts.length} texts x 2 modes, ${mismatches.length} mismatches`);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('keeps specials whole only with parse_special', () => {
    const end = tok.idOf('<|end|>');
    expect(end).toBeDefined();
    expect(tok.encode('a<|end|>', { parseSpecial: true })).toContain(end);
    expect(tok.encode('a<|end|>', { parseSpecial: false })).not.toContain(end);
  });

  it('decodes identically (with and without specials), and streaming equals whole decoding', () => {
    const rng = new Rng(11);
    const seqs: number[][] = [...FIXED, ...textCorpus(77, 200).map((c) => c.text)].map((t) => model.tokenize(t, true));
    for (let i = 0; i < 300; i++) {
      // Random ids: byte tokens (broken UTF-8 across tokens), specials and pads, anything.
      seqs.push(Array.from({ length: rng.int(1, 12) }, () => {
        const r = rng.next();
        if (r < 0.4) return tok.idOf(v.tokens[rng.int(0, 255)]) ?? 0;
        if (r < 0.6) return rng.int(tok.size - 80, tok.size - 1);
        return rng.int(0, tok.size - 1);
      }));
    }
    const mismatches: string[] = [];
    for (const ids of seqs) {
      for (const special of [false, true]) {
        const ref = model.detokenize(ids as Token[], special);
        const ours = tok.decode(ids, { unparseSpecial: special });
        if (ours !== ref) mismatches.push(`${JSON.stringify(ids)} special=${special}\n  llama ${show(ref)}\n  ours  ${show(ours)}`);
      }
      // Streaming (llama.cpp's per-token pieces, no clean-up pass) against the joined pieces.
      const d = new StreamDecoder(tok, { stripLeadingSpace: true });
      const streamed = ids.map((id) => d.push(id)).join('') + d.flush();
      const whole = new TextDecoder('utf-8', { ignoreBOM: true }).decode(Buffer.concat(ids.map((id) => tok.pieceBytes(id, false))));
      if (streamed !== whole) mismatches.push(`stream ${JSON.stringify(ids)}: ${show(streamed)} vs ${show(whole)}`);
    }
    console.log(`tokenizer.bpe.llama (${name}): ${seqs.length} id sequences x 2 modes (decode + stream), ${mismatches.length} mismatches`);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it("encodeChat with Phi-4-mini's template equals llama.cpp on the rendered prompt", () => {
    const texts = [...FIXED, ...textCorpus(31, 300).map((c) => c.text)].filter((t) => !/<\|[a-z_/]+\|>/.test(t));
    let n = 0;
    for (let i = 0; i + 2 < texts.length; i += 3) {
      const msgs: ChatMessage[] = [
        { role: 'system', content: texts[i] },
        { role: 'user', content: texts[i + 1] },
        { role: 'assistant', content: texts[i + 2] },
      ];
      for (const addGenerationPrompt of [true, false]) {
        const o = { template: PHI4_MINI_CHAT_TEMPLATE, addGenerationPrompt };
        const eosToken = v.tokens[v.eosId];
        const ref = [...bos(), ...model.tokenize(renderChat(msgs, { ...o, bosToken: v.tokens[v.bosId], eosToken }), true), ...eos()];
        expect(encodeChat(tok, msgs, o)).toEqual(ref);
        n++;
      }
    }
    console.log(`tokenizer.bpe.llama (${name}): compared ${n} chat prompts`);
    expect(n).toBeGreaterThan(150);
  });
});
