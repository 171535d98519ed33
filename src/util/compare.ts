/**
 * all-close with a report: |got - ref| <= atol + rtol * |ref| for every element.
 * Used by kernel tests and by the in-app kernel self-test.
 */
export interface CompareReport {
  ok: boolean;
  count: number;
  bad: number;
  maxAbsErr: number;
  maxRelErr: number;
  /** First few mismatches as "index: got vs ref". */
  mismatches: string[];
}

export function compareArrays(got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): CompareReport {
  if (got.length !== ref.length) {
    return { ok: false, count: ref.length, bad: ref.length, maxAbsErr: Infinity, maxRelErr: Infinity, mismatches: [`length ${got.length} vs ${ref.length}`] };
  }
  let bad = 0;
  let maxAbsErr = 0;
  let maxRelErr = 0;
  const mismatches: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const g = got[i];
    const r = ref[i];
    const err = Math.abs(g - r);
    const okHere = err <= atol + rtol * Math.abs(r) || (Number.isNaN(g) && Number.isNaN(r));
    if (!Number.isNaN(err)) {
      maxAbsErr = Math.max(maxAbsErr, err);
      if (r !== 0) maxRelErr = Math.max(maxRelErr, err / Math.abs(r));
    }
    if (!okHere) {
      bad++;
      if (mismatches.length < 8) mismatches.push(`${i}: ${g} vs ${r}`);
    }
  }
  return { ok: bad === 0, count: ref.length, bad, maxAbsErr, maxRelErr, mismatches };
}

export function describeReport(r: CompareReport): string {
  return r.ok
    ? `ok: ${r.count} values, max abs err ${r.maxAbsErr.toExponential(2)}, max rel err ${r.maxRelErr.toExponential(2)}`
    : `${r.bad}/${r.count} values out of tolerance (max abs ${r.maxAbsErr.toExponential(2)}): ${r.mismatches.join('; ')}`;
}
