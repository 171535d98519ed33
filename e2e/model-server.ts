/**
 * A local HTTP server for e2e tests: serves GGUF files with Range support and CORS (the app
 * fetches from another origin than the one it is served from). Loopback only.
 *
 * Faults, for the download tests: `fail(...)` queues faults for the next GET requests, one per
 * request, in order; `always(...)` applies faults to every GET from then on. Every GET is logged
 * in `requests` with the body bytes actually written to the socket, so a test can tell exactly
 * which bytes were fetched twice.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** Answer with this status and a short text body instead of the file. */
  | { kind: 'status'; status: number }
  /** Send this many body bytes, then close the connection in the middle of the body. */
  | { kind: 'cut'; afterBytes: number }
  /** Send this many body bytes (default 0), then nothing more, holding the connection open. */
  | { kind: 'stall'; afterBytes?: number }
  /** Answer a Range request with 200 and the whole file, as a server without Range support does. */
  | { kind: 'ignore-range' }
  /** Announce a Content-Length `delta` bytes off the true one (the bytes sent stop at the smaller). */
  | { kind: 'content-length'; delta: number };

export interface ServedRequest {
  name: string;
  range: string | undefined;
  status: number;
  /** Body bytes written to the socket for this request. */
  served: number;
  /** The faults applied to it. */
  faults: Fault['kind'][];
}

export interface ModelServer {
  url(name: string): string;
  /** Bytes of file data sent so far. */
  bytesServed: number;
  /** Every GET, in order of arrival. */
  readonly requests: ServedRequest[];
  /** Drops every connection still sending or holding a response: a stalled download is cut now. */
  dropConnections(): void;
  /** Apply each fault to one of the next GET requests, in order. */
  fail(...faults: Fault[]): void;
  /** Apply these faults to every GET from now on (until `clearFaults`). */
  always(...faults: Fault[]): void;
  clearFaults(): void;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Throttle: bytes per second per response (default: unthrottled). */
  bytesPerSecond?: number;
}

export async function startModelServer(files: Record<string, string>, opts: ServerOptions = {}): Promise<ModelServer> {
  const state = { bytesServed: 0 };
  const requests: ServedRequest[] = [];
  const queued: Fault[] = [];
  const steady: Fault[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Range');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, ETag');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    const name = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0]);
    const faults = req.method === 'GET' ? [...steady, ...(queued.length ? [queued.shift() as Fault] : [])] : [];
    const find = <K extends Fault['kind']>(k: K) => faults.find((f): f is Extract<Fault, { kind: K }> => f.kind === k);
    const log: ServedRequest = { name, range: req.headers.range, status: 0, served: 0, faults: faults.map((f) => f.kind) };
    if (req.method === 'GET') requests.push(log);
    open.add(res);
    res.on('close', () => open.delete(res));

    const path = files[name];
    const status = find('status')?.status ?? (path ? undefined : 404);
    if (status !== undefined) {
      log.status = status;
      return void res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status === 404 ? 'not found' : `injected error ${status}`);
    }
    const size = statSync(path).size;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', `"${size}"`);
    const m = find('ignore-range') ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size || start > end) {
        log.status = 416;
        return void res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      }
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
    log.status = m ? 206 : 200;
    const announced = end - start + 1 + (find('content-length')?.delta ?? 0);
    res.writeHead(log.status, { 'Content-Length': announced });
    if (req.method === 'HEAD') return void res.end();

    // Where the body stops short of the full range, and what happens then.
    const cut = find('cut')?.afterBytes;
    const stall = find('stall');
    const limit = Math.min(end - start + 1, announced, cut ?? Infinity, stall ? (stall.afterBytes ?? 0) : Infinity);
    const stop = () => {
      if (stall) return; // hold the connection until the client gives up
      if (limit < announced) {
        // Fewer bytes than announced: the client must see a dropped connection, not wait.
        setTimeout(() => res.socket?.destroy(), 50);
      } else res.end();
    };
    res.flushHeaders();
    if (limit <= 0) return void stop();
    const stream = createReadStream(path, { start, end: start + limit - 1, highWaterMark: 64 * 1024 });
    // The stream waits while the socket is full or the throttle says so, and resumes when neither does.
    let holds = 0;
    const hold = () => void (holds++ === 0 && stream.pause());
    const release = () => void (--holds === 0 && stream.resume());
    let flushed = Promise.resolve();
    stream.on('data', (chunk) => {
      const n = chunk.length;
      log.served += n;
      state.bytesServed += n;
      flushed = new Promise((resolve) => {
        if (!res.write(chunk, () => resolve())) {
          hold();
          res.once('drain', release);
        }
      });
      if (opts.bytesPerSecond) {
        hold();
        setTimeout(release, (1000 * n) / opts.bytesPerSecond);
      }
    });
    // Only once the last bytes are on the socket: destroying it earlier would drop them.
    stream.on('end', () => void flushed.then(stop));
    res.on('close', () => stream.destroy());
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
    requests,
    dropConnections: () => {
      for (const res of open) res.socket?.destroy();
    },
    fail: (...f) => void queued.push(...f),
    always: (...f) => void steady.push(...f),
    clearFaults: () => {
      queued.length = 0;
      steady.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        // Stalled responses would keep close() waiting forever.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
