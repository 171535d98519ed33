/**
 * Splits a GGUF into shards the way llama.cpp's `llama-gguf-split` does, for peers that cannot
 * read one large file: wllama keeps each file in its wasm heap and cannot read past 2^31 bytes
 * of one file (its README: split larger models), so the full-size benchmark model (2.39 GB) goes
 * to it as two shards of the same bytes. Our own engine reads the single file.
 *
 * Shard i is `<base>-0000i-of-0000n.gguf`: a complete GGUF holding a run of the tensors (in file
 * order) with their bytes unchanged, and the keys split.no = i - 1 (u16), split.count = n (u16)
 * and split.tensors.count = all tensors (i32); the first shard also carries every metadata key of
 * the source. llama.cpp's loader checks exactly these (llama-model-loader.cpp).
 *
 *   npx tsx scripts/gguf-split.ts <file.gguf> [max MB per shard, default 1800]
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GGUFValueType } from '../src/model/gguf-types.ts';
import type { GGUFFile } from '../src/model/gguf-types.ts';
import { GGUFWriter, pad, writeGGUF } from '../src/model/gguf-write.ts';
import type { GGUFWriteValue } from '../src/model/gguf-write.ts';
import { readGGUFFile } from '../src/model/source-node.ts';

export function shardPath(path: string, i: number, n: number, dir?: string): string {
  const base = (dir ? join(dir, basename(path)) : path).replace(/\.gguf$/, '');
  return `${base}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.gguf`;
}

/** Tensor indices per shard: file order, each shard's data at most maxBytes (a larger tensor gets a shard of its own). */
export function planShards(file: Pick<GGUFFile, 'tensors' | 'alignment'>, maxBytes: number): number[][] {
  const order = file.tensors.map((_, i) => i).sort((a, b) => file.tensors[a].offset - file.tensors[b].offset);
  const shards: number[][] = [];
  let bytes = 0;
  for (const i of order) {
    const n = pad(file.tensors[i].nbytes, file.alignment);
    if (!shards.length || (bytes + n > maxBytes && shards[shards.length - 1].length)) {
      shards.push([]);
      bytes = 0;
    }
    shards[shards.length - 1].push(i);
    bytes += n;
  }
  return shards;
}

/**
 * Writes the shards next to `path` (or in `dir`), reusing them when they are newer than it, and
 * returns their paths in order. Each shard is written under a temporary name and renamed when complete.
 */
export async function splitGGUF(path: string, maxBytes: number, dir?: string): Promise<string[]> {
  const file = await readGGUFFile(path);
  const shards = planShards(file, maxBytes);
  const paths = shards.map((_, i) => shardPath(path, i, shards.length, dir));
  const mtime = statSync(path).mtimeMs;
  if (paths.every((p) => existsSync(p) && statSync(p).mtimeMs >= mtime)) return paths;
  const src = await open(path, 'r');
  try {
    for (let s = 0; s < shards.length; s++) {
      const w = new GGUFWriter({ alignment: file.alignment });
      if (s === 0) {
        for (const [key, { type, arrayType }] of file.metadataTypes) {
          if (key === 'general.alignment' || key.startsWith('split.')) continue;
          w.addKV(key, type, file.metadata.get(key) as GGUFWriteValue, arrayType);
        }
      }
      w.addKV('split.no', GGUFValueType.UINT16, s);
      w.addKV('split.count', GGUFValueType.UINT16, shards.length);
      w.addKV('split.tensors.count', GGUFValueType.INT32, file.tensors.length);
      for (const i of shards[s]) {
        const t = file.tensors[i];
        w.addTensorInfo(t.name, t.type, t.dims);
      }
      const tmp = `${paths[s]}.${process.pid}.tmp`;
      const out = await open(tmp, 'w');
      try {
        await writeGGUF(
          w,
          async function* (k) {
            const t = file.tensors[shards[s][k]];
            const chunk = 8 << 20;
            for (let at = 0; at < t.nbytes; at += chunk) {
              const buf = new Uint8Array(Math.min(chunk, t.nbytes - at));
              const { bytesRead } = await src.read(buf, 0, buf.length, file.dataOffset + t.offset + at);
              if (bytesRead !== buf.length) throw new Error(`gguf-split: ${path}: short read in tensor "${t.name}"`);
              yield buf;
            }
          },
          async (bytes) => {
            await out.write(bytes);
          },
        );
      } finally {
        await out.close();
      }
      renameSync(tmp, paths[s]);
    }
  } finally {
    await src.close();
  }
  return paths;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [path, mb] = process.argv.slice(2);
  if (!path) throw new Error('usage: gguf-split.ts <file.gguf> [max MB per shard]');
  for (const p of await splitGGUF(path, Number(mb ?? 1800) * 1e6)) console.log(p);
}
