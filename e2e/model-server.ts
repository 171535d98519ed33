/**
 * A local HTTP server for e2e tests: serves GGUF files with Range support and CORS (the app
 * fetches from another origin than the one it is served from). Loopback only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface ModelServer {
  url(name: string): string;
  /** Bytes of file data sent so far. */
  bytesServed: number;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Throttle: bytes per second per response (default: unthrottled). */
  bytesPerSecond?: number;
}

export async function startModelServer(files: Record<string, string>, opts: ServerOptions = {}): Promise<ModelServer> {
  const state = { bytesServed: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Range');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, ETag');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    const name = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0]);
    const path = files[name];
    if (!path) return void res.writeHead(404).end('not found');
    const size = statSync(path).size;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', `"${size}"`);
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size || start > end) return void res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
    } else {
      res.writeHead(200, { 'Content-Length': size });
    }
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(path, { start, end, highWaterMark: 64 * 1024 });
    stream.on('data', (chunk) => {
      state.bytesServed += chunk.length;
      if (opts.bytesPerSecond) {
        stream.pause();
        setTimeout(() => stream.resume(), (1000 * chunk.length) / opts.bytesPerSecond);
      }
    });
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`,
    get bytesServed() {
      return state.bytesServed;
    },
    set bytesServed(v: number) {
      state.bytesServed = v;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
