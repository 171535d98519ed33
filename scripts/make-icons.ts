/**
 * Writes the PWA icons in public/ (no image tools needed): a blue tile with a white chat bubble.
 *   npx tsx scripts/make-icons.ts
 */
import { deflateSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

function crc32(buf: Uint8Array): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function png(size: number, pixel: (x: number, y: number) => [number, number, number, number]): Uint8Array {
  const raw = new Uint8Array(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) raw.set(pixel(x, y), y * (size * 4 + 1) + 1 + x * 4);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, size);
  dv.setUint32(4, size);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const BLUE: [number, number, number, number] = [47, 91, 211, 255];
const WHITE: [number, number, number, number] = [255, 255, 255, 255];

/** Bubble: an ellipse plus a small tail, within the central 60% (safe for maskable icons). */
function icon(size: number) {
  return png(size, (x, y) => {
    const u = x / size - 0.5;
    const v = y / size - 0.47;
    const inEllipse = (u / 0.3) ** 2 + (v / 0.22) ** 2 <= 1;
    const inTail = v > 0.12 && v < 0.28 && u > -0.2 && u < -0.2 + (0.28 - v) * 0.9;
    return inEllipse || inTail ? WHITE : BLUE;
  });
}

for (const size of [192, 512]) writeFileSync(`public/icon-${size}.png`, icon(size));
writeFileSync('public/apple-touch-icon.png', icon(180));
console.log('wrote public/icon-192.png, icon-512.png, apple-touch-icon.png');
