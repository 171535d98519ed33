/**
 * CLI commands over a GGUF file's tokenizer (dispatched by scripts/cli.ts):
 *
 *   npm run cli -- tokenize   --model FILE.gguf (--text T | --file F) [--special] [--bos]
 *   npm run cli -- detokenize --model FILE.gguf --ids 1,2,3 [--special]
 *
 * tokenize prints a JSON array of ids. `--special` parses special-token text such as `<|end|>`
 * (llama.cpp parse_special); `--bos` adds BOS when the file asks for it (llama.cpp add_special).
 * detokenize prints the text; `--special` renders control tokens as their text.
 * Each command returns its result as well, so tests and other scripts can call it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readGGUFFile } from '../src/model/source-node.ts';
import type { TextTokenizer } from '../src/model/tokenizer.ts';
import { createTokenizer } from '../src/model/create-tokenizer.ts';
import { vocabFromMetadata } from '../src/model/vocab.ts';

export const TOKENIZE_USAGE = 'usage: tokenize --model FILE.gguf (--text T | --file F) [--special] [--bos]';
export const DETOKENIZE_USAGE = 'usage: detokenize --model FILE.gguf --ids 1,2,3 [--special]';

type Print = (line: string) => void;

async function loadTokenizer(path: string): Promise<TextTokenizer> {
  const file = await readGGUFFile(path);
  return createTokenizer(vocabFromMetadata(file.metadata));
}

export async function tokenizeCommand(args: readonly string[], print: Print = console.log): Promise<number[]> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: 'string' },
      text: { type: 'string' },
      file: { type: 'string' },
      special: { type: 'boolean', default: false },
      bos: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.model || (values.text === undefined) === (values.file === undefined)) throw new Error(TOKENIZE_USAGE);
  const text = values.text ?? readFileSync(values.file as string, 'utf8');
  const tok = await loadTokenizer(values.model);
  const ids = tok.encode(text, { addSpecial: values.bos, parseSpecial: values.special });
  print(JSON.stringify(ids));
  return ids;
}

export async function detokenizeCommand(args: readonly string[], print: Print = console.log): Promise<string> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: 'string' },
      ids: { type: 'string' },
      special: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.model || values.ids === undefined) throw new Error(DETOKENIZE_USAGE);
  const ids = values.ids.split(/[\s,]+/).filter((s) => s !== '').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new Error(`detokenize: "${s}" is not a token id\n${DETOKENIZE_USAGE}`);
    return n;
  });
  const tok = await loadTokenizer(values.model);
  const text = tok.decode(ids, { unparseSpecial: values.special });
  print(text);
  return text;
}
