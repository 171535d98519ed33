/** Node only: a ByteSource over a local file (CLI, tests). Browsers use blobSource/httpSource. */

import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { ModelSourceError } from '../common/errors.ts';
import { readGGUF } from './gguf.ts';
import type { ReadGGUFOptions } from './gguf.ts';
import type { ByteSource, GGUFFile } from './gguf-types.ts';

export interface FileByteSource extends ByteSource {
  close(): Promise<void>;
}

export async function fileSource(path: string): Promise<FileByteSource> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    size,
    name: basename(path),
    async read(offset: number, length: number): Promise<Uint8Array> {
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw new ModelSourceError(`${path}: unexpected end of file at byte ${offset + done}`);
        done += bytesRead;
      }
      return buf;
    },
    close: () => fh.close(),
  };
}

/** Open, parse the header, close. */
export async function readGGUFFile(path: string, opts?: ReadGGUFOptions): Promise<GGUFFile> {
  const src = await fileSource(path);
  try {
    return await readGGUF(src, opts);
  } finally {
    await src.close();
  }
}
