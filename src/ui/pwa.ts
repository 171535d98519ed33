/**
 * Service worker registration (vite-plugin-pwa / Workbox). When a new version of the app shell is
 * waiting, `onUpdate` listeners hear about it and may call `applyUpdate()` (reloads the page).
 */
import { registerSW } from 'virtual:pwa-register';

type Listener = () => void;
const listeners = new Set<Listener>();
let waiting = false;
let update: ((reload?: boolean) => Promise<void>) | undefined;

export function startServiceWorker(): void {
  if (!('serviceWorker' in navigator)) return;
  update = registerSW({
    immediate: true,
    onNeedRefresh() {
      waiting = true;
      for (const l of listeners) l();
    },
  });
}

export function onUpdate(l: Listener): () => void {
  listeners.add(l);
  if (waiting) l();
  return () => listeners.delete(l);
}

export function applyUpdate(): void {
  void update?.(true);
}
