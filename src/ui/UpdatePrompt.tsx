import { useEffect, useState } from 'react';
import { applyUpdate, onUpdate } from './pwa.ts';

/** "A new version is available" with a Reload button; the chat keeps working until then. */
export function UpdatePrompt() {
  const [ready, setReady] = useState(false);
  useEffect(() => onUpdate(() => setReady(true)), []);
  if (!ready) return null;
  return (
    <div className="card update-prompt" role="status">
      A new version of the app is ready.{' '}
      <button type="button" onClick={applyUpdate}>
        Reload
      </button>{' '}
      <button type="button" className="secondary" onClick={() => setReady(false)}>
        Later
      </button>
    </div>
  );
}
