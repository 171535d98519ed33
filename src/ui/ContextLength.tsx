import { useId } from 'react';
import { formatBytes } from '../common/format.ts';
import { contextChoices, effectiveContext, gpuBytesNeeded } from './models.ts';

/**
 * Choose the context length a model is loaded with; each option shows the GPU memory it takes
 * (weights plus the KV cache, which grows with the length) when the model's KV size is known.
 * `value` is the remembered choice; a model trained for fewer tokens shows (and gets) its own maximum.
 */
export function ContextLength({
  value,
  onChange,
  fileBytes,
  modelMax,
  kvBytesPerToken,
  name,
  disabled,
}: {
  value: number;
  onChange: (n: number) => void;
  fileBytes: number;
  modelMax?: number;
  /** The model's KV cache bytes per position, when known. */
  kvBytesPerToken?: number;
  /** Accessible name when several selects share the page (the visible label stays short). */
  name?: string;
  disabled?: boolean;
}) {
  const id = useId();
  const choices = contextChoices(modelMax);
  const current = effectiveContext(value, modelMax);
  return (
    <div className="context-length">
      <label htmlFor={id}>Context length</label>
      <select id={id} aria-label={name} value={choices.includes(current) ? current : choices[choices.length - 1]} disabled={disabled} onChange={(e) => onChange(Number(e.target.value))}>
        {choices.map((n) => (
          <option key={n} value={n}>
            {n} tokens{kvBytesPerToken ? ` · ${formatBytes(gpuBytesNeeded(fileBytes, n, kvBytesPerToken))} GPU` : ''}
          </option>
        ))}
      </select>
    </div>
  );
}
