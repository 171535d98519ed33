/**
 * Sizes in words, for messages and the UI alike: decimal units, as disks, browser settings and
 * download pages show them ("2.39 GB", "512 MB", "16.4 KB").
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'an unknown amount';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}
