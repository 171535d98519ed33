/**
 * npm run cli -- generate --model FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) --max-tokens N
 *                         [--temperature T] [--top-k K] [--top-p P] [--seed S] [--top N]
 *                         [--ctx N] [--kv-type f16|q8_0] [--chat] [--no-swa] [--json]
 *
 * Runs our WebGPU engine in Node (Dawn; lavapipe unless WEBGPU_ICD says otherwise). With --json,
 * one line per generated token {"id","text","top":[[id,logprob],...]} and a final stats line
 * {"stats":{...}}; otherwise the text streams to stdout and the stats go to stderr. The stats
 * include kvBytes (the KV cache's GPU buffers) and gpuBytes (every GPU buffer the engine holds:
 * weights, state with the cache, scratch, uniforms). --kv-type picks the cache's type (default f16).
 * --prompt is tokenized as plain text with BOS; --chat wraps it as one user turn of the file's
 * chat template instead. Greedy when the temperature is 0 (the default).
 */
import { parseArgs } from 'node:util';
import { fileSource } from '../src/model/source-node.ts';
import { StreamDecoder } from '../src/model/detokenizer.ts';
import { encodeChat, stopTokenIds } from '../src/model/chat-template.ts';
import { openModel, readModel } from '../src/engine/open.ts';
import { openNodeDevice } from '../src/gpu/node.ts';
import { DEFAULT_CONTEXT_LENGTH } from '../src/common/catalog.ts';
import { KV_TYPES, type KvType } from '../src/model/config.ts';

export const GENERATE_USAGE =
  'usage: generate --model FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) --max-tokens N [--temperature T] [--top-k K] [--top-p P] [--seed S] [--top N] [--ctx N] [--kv-type f16|q8_0] [--chat] [--no-swa] [--json]';

type Print = (line: string) => void;

export async function generateCommand(args: readonly string[], print: Print = (l) => process.stdout.write(l)): Promise<void> {
  const { values: v } = parseArgs({
    args: [...args],
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-ids': { type: 'string' },
      'max-tokens': { type: 'string', default: '64' },
      temperature: { type: 'string', default: '0' },
      'top-k': { type: 'string', default: '0' },
      'top-p': { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' },
      top: { type: 'string', default: '5' },
      ctx: { type: 'string' },
      'kv-type': { type: 'string', default: 'f16' },
      chat: { type: 'boolean', default: false },
      'no-swa': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!v.model || (v.prompt === undefined) === (v['prompt-ids'] === undefined)) throw new Error(GENERATE_USAGE);
  const num = (name: string, s: string) => {
    const n = Number(s);
    if (!Number.isFinite(n)) throw new Error(`--${name}: not a number: ${s}`);
    return n;
  };

  const kvType = v['kv-type'] as string;
  if (!(KV_TYPES as readonly string[]).includes(kvType)) throw new Error(`--kv-type: one of ${KV_TYPES.join(', ')}, not ${kvType}`);

  const t0 = performance.now();
  const src = await fileSource(v.model);
  try {
    const model = await readModel(src);
    const { file, cfg, vocab, tokenizer: tok } = model;
    const ids = v['prompt-ids'] !== undefined
      ? v['prompt-ids'].split(',').map((s) => num('prompt-ids', s))
      : v.chat
        ? encodeChat(tok, [{ role: 'user', content: v.prompt as string }], { template: file.metadata.get('tokenizer.chat_template') as string | undefined, addGenerationPrompt: true })
        : tok.encode(v.prompt as string, { addSpecial: true });
    const { device, capabilities } = await openNodeDevice();
    try {
      const { engine } = await openModel(device, model, {
        contextLength: v.ctx ? num('ctx', v.ctx) : Math.min(cfg.contextLength, DEFAULT_CONTEXT_LENGTH),
        slidingWindow: !v['no-swa'],
        kvType: kvType as KvType,
      });
      const loadMs = performance.now() - t0;
      const decoder = new StreamDecoder(tok, { stripLeadingSpace: v.chat });
      const result = await engine.generate(ids, {
        maxTokens: num('max-tokens', v['max-tokens'] as string),
        sampling: {
          temperature: num('temperature', v.temperature as string),
          topK: num('top-k', v['top-k'] as string),
          topP: num('top-p', v['top-p'] as string),
          repetitionPenalty: 1,
          seed: num('seed', v.seed as string),
        },
        topLogprobs: num('top', v.top as string),
        stopIds: stopTokenIds(vocab),
        onToken: (t) => {
          const text = decoder.push(t.id);
          if (v.json) print(JSON.stringify({ id: t.id, text, top: t.top.map(([id, lp]) => [id, +lp.toFixed(6)]) }) + '\n');
          else print(text);
        },
      });
      const tail = decoder.flush();
      if (tail && !v.json) print(tail);
      const n = result.tokens.length;
      const prefilled = result.promptTokens - result.cachedTokens;
      const stats = {
        adapter: capabilities.adapter.description || capabilities.adapter.device,
        loadMs: Math.round(loadMs),
        promptTokens: result.promptTokens,
        generatedTokens: n,
        finishReason: result.finishReason,
        prefillTokPerS: +(prefilled / (result.prefillMs / 1000)).toFixed(2),
        // The first token comes from the prefill; decode steps produce the rest.
        decodeTokPerS: n > 1 ? +((n - 1) / (result.decodeMs / 1000)).toFixed(3) : null,
        decodeSecPerToken: n > 1 ? +(result.decodeMs / 1000 / (n - 1)).toFixed(3) : null,
        dispatchesPerToken: engine.counters.dispatchesPerDecodeStep,
        weightBytesPerToken: engine.weightBytes,
        kvType: engine.kvType,
        kvBytes: engine.kvBytes,
        gpuBytes: engine.gpuBytes,
        peakRssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      };
      if (v.json) print(JSON.stringify({ stats }) + '\n');
      else process.stderr.write(`\n${JSON.stringify(stats)}\n`);
      engine.destroy();
    } finally {
      device.destroy();
    }
  } finally {
    await src.close();
  }
}
