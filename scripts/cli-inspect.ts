/**
 * `npm run cli -- inspect FILE.gguf`: the header, metadata, model config and tensor table of a
 * GGUF file as JSON (reads only the header). Long arrays are summarized as
 * `{"type":"string[]","length":32064,"head":[first 8]}`; 64-bit integers beyond 2^53 print as strings.
 */
import { modelConfigFromGGUF } from '../src/model/config.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { GGUF_VALUE_TYPE_NAME, GGUFValueType, ggmlTypeName } from '../src/model/gguf.ts';
import type { GGUFFile, GGUFValue } from '../src/model/gguf.ts';
import { readGGUFFile } from '../src/model/source-node.ts';

export const INSPECT_USAGE = 'usage: inspect FILE.gguf';

/** Arrays longer than this are summarized. */
const MAX_INLINE = 16;
const HEAD = 8;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface InspectReport {
  file: string;
  version: number;
  alignment: number;
  dataOffset: number;
  fileSize: number;
  headerBytes: number;
  metadata: Record<string, Json>;
  config: ModelConfig | null;
  configError: string | null;
  tensorDataBytes: number;
  tensors: { name: string; type: string; dims: number[]; offset: number; nbytes: number }[];
}

function scalar(v: GGUFValue | number | bigint | boolean | string): Json {
  return typeof v === 'bigint' ? v.toString() : (v as Json);
}

export function summarizeValue(v: GGUFValue, t: { type: GGUFValueType; arrayType?: GGUFValueType }): Json {
  if (t.type !== GGUFValueType.ARRAY) return scalar(v);
  const arr = Array.from(v as ArrayLike<number | bigint | boolean | string>, scalar);
  if (arr.length <= MAX_INLINE) return arr;
  return { type: `${GGUF_VALUE_TYPE_NAME[t.arrayType as GGUFValueType]}[]`, length: arr.length, head: arr.slice(0, HEAD) };
}

export function inspectGGUF(file: GGUFFile, name: string): InspectReport {
  const metadata: Record<string, Json> = {};
  for (const [k, v] of file.metadata) metadata[k] = summarizeValue(v, file.metadataTypes.get(k)!);
  let config: ModelConfig | null = null;
  let configError: string | null = null;
  try {
    config = modelConfigFromGGUF(file);
  } catch (e) {
    configError = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  return {
    file: name,
    version: file.version,
    alignment: file.alignment,
    dataOffset: file.dataOffset,
    fileSize: file.fileSize,
    headerBytes: file.headerBytes,
    metadata,
    config,
    configError,
    tensorDataBytes: file.tensors.reduce((s, t) => s + t.nbytes, 0),
    tensors: file.tensors.map((t) => ({ name: t.name, type: ggmlTypeName(t.type), dims: t.dims, offset: t.offset, nbytes: t.nbytes })),
  };
}

/** Indented JSON with arrays of scalars (dims, heads of arrays) kept on one line. */
export function toJson(v: unknown): string {
  // Swap such arrays for unique placeholder strings, indent, then put them back compact.
  const marker = `@@array-${Math.random().toString(36).slice(2)}-`;
  const inline: string[] = [];
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (!Array.isArray(x) || x.some((e) => e !== null && typeof e === 'object')) return x;
    inline.push(`[${x.map((e) => JSON.stringify(e)).join(', ')}]`);
    return `${marker}${inline.length - 1}`;
  }, 2);
  return text.replace(new RegExp(`"${marker}(\\d+)"`, 'g'), (_, i: string) => inline[Number(i)]);
}

export async function inspectCommand(args: readonly string[], print: (line: string) => void = console.log): Promise<InspectReport> {
  if (args.length !== 1 || args[0].startsWith('-')) throw new Error(INSPECT_USAGE);
  const report = inspectGGUF(await readGGUFFile(args[0]), args[0]);
  print(toJson(report));
  return report;
}
