import { useId } from 'react';
import { AUTO_8BIT_ABOVE, KV_PREFERENCES, kvTypeLabel, type KvPreference } from './models.ts';

const LABELS: Record<KvPreference, string> = { auto: 'Automatic', f16: kvTypeLabel('f16'), q8_0: kvTypeLabel('q8_0') };

/**
 * The "KV cache precision" setting: how the model's memory of the conversation is stored.
 * `inUse` is what the chosen model and context get with it (src/ui/models.ts kvChoice).
 */
export function KvPrecision({
  value,
  onChange,
  inUse,
  name,
  disabled,
}: {
  value: KvPreference;
  onChange: (p: KvPreference) => void;
  /** The KV type the current model and context get, when known. */
  inUse?: 'f16' | 'q8_0';
  name?: string;
  disabled?: boolean;
}) {
  const id = useId();
  const hint = useId();
  return (
    <div className="context-length kv-precision">
      <label htmlFor={id}>KV cache precision</label>
      <select id={id} aria-label={name} aria-describedby={hint} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as KvPreference)}>
        {KV_PREFERENCES.map((p) => (
          <option key={p} value={p}>
            {p === 'auto' && inUse ? `${LABELS.auto} (${kvTypeLabel(inUse)})` : LABELS[p]}
          </option>
        ))}
      </select>
      <p id={hint} className="muted small">
        8-bit needs about half the GPU memory per token of context, and changes the replies slightly; Automatic uses it above{' '}
        {AUTO_8BIT_ABOVE / 1024}K tokens, or when 16-bit would not fit.
      </p>
    </div>
  );
}
