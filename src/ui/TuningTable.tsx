import type { TuningReport } from '../worker/protocol.ts';
import { tuningRows, tuningSummary } from './tuning-report.ts';

/** The kernel plan a benchmark ran with: each role's choice and, when tuned, its time against the table's. */
export function TuningTable({ tuning }: { tuning: TuningReport }) {
  return (
    <>
      <table className="checks" data-testid="tuning-table">
        <caption>Kernel plan: {tuningSummary(tuning)}</caption>
        <thead>
          <tr>
            <th scope="col">role</th>
            <th scope="col">choice</th>
            <th scope="col">time</th>
            <th scope="col">vs table</th>
          </tr>
        </thead>
        <tbody>
          {tuningRows(tuning).map(([role, choice, time, gain]) => (
            <tr key={role}>
              <td>{role}</td>
              <td>{choice}</td>
              <td>{time}</td>
              <td>{gain}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {tuning.dropped.length ? (
        <details>
          <summary>{tuning.dropped.length} candidates dropped (never used)</summary>
          <ul>
            {tuning.dropped.map((d, i) => (
              <li key={i}>
                {d.role} {d.label}: {d.reason}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </>
  );
}
