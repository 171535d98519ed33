/**
 * A byte-level BPE model end to end: a generated tiny phi3 model with the learned small BPE
 * vocabulary and Phi-4-mini's chat template, opened like the worker opens a model and chatted
 * with through ChatSession on the GPU. Its prompt ids must be llama.cpp's tokenization of the
 * rendered prompt, and its greedy reply llama.cpp's greedy continuation (the model has a planted
 * bigram, so every step has a clear winner), cut at the first stop token and decoded as text.
 * Breaks if any caller still assumes the SentencePiece tokenizer or Phi-3's chat format.
 */
import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../gpu/test-gpu.ts';
import { openModel } from '../engine/open.ts';
import { openTestModel } from '../engine/test-engine.ts';
import { BpeTokenizer } from '../model/bpe-tokenizer.ts';
import { encodeChat, renderChat, stopTokenIds, type ChatMessage } from '../model/chat-template.ts';
import { PHI4_MINI_CHAT_TEMPLATE } from '../../scripts/bpe-vocab.ts';
import { llamaGreedyFile, loadLlamaModel } from '../../scripts/llama-ref.ts';
import { ChatSession } from './session.ts';

const gpu = gpuForTests();
const STEPS = 12;

describe('ChatSession on a byte-level BPE model', () => {
  it("encodes Phi-4-mini's prompt and replies greedily as llama.cpp does", async () => {
    const m = await openTestModel({ preset: 'tiny', mix: 'f32', seed: 9, vocab: 'bpe-small' });
    expect(m.tokenizer).toBeInstanceOf(BpeTokenizer);
    expect(m.file.metadata.get('tokenizer.chat_template')).toBe(PHI4_MINI_CHAT_TEMPLATE);
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: "Hello, world! What's 12345 + 678?" },
    ];
    const v = m.vocab;
    const rendered = renderChat(messages, {
      template: PHI4_MINI_CHAT_TEMPLATE, addGenerationPrompt: true, bosToken: v.tokens[v.bosId], eosToken: v.tokens[v.eosId],
    });
    const llm = await loadLlamaModel(m.path, { vocabOnly: true });
    const prompt = llm.tokenize(rendered, true).map(Number);
    await llm.dispose();
    const trace = await llamaGreedyFile(m.path, prompt, STEPS);
    const stops = new Set(stopTokenIds(v));
    const generated = trace.ids.slice(prompt.length);
    const cut = generated.findIndex((id) => stops.has(id));
    const expected = cut >= 0 ? generated.slice(0, cut) : generated.slice(0, STEPS);
    expect(expected.length, 'a reply of a few tokens at least').toBeGreaterThan(2);
    expect(encodeChat(m.tokenizer, messages, { template: PHI4_MINI_CHAT_TEMPLATE, addGenerationPrompt: true })).toEqual(prompt);

    const opened = await openModel(gpu.device, m, { contextLength: 256, slidingWindow: false });
    try {
      const session = new ChatSession(opened);
      const res = await session.chat({ messages, max_tokens: STEPS, temperature: 0, repetition_penalty: 1 });
      expect(res.usage.promptTokens).toBe(prompt.length);
      expect(res.usage.completionTokens).toBe(cut >= 0 ? cut + 1 : STEPS);
      expect(res.text).toBe(m.tokenizer.decode(expected));
    } finally {
      opened.engine.destroy();
    }
  });
});
