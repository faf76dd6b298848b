import { num } from '../../components/format';
import type { GateResult } from './model-types';

const MARK = { pass: '✓ pass', fail: '✗ fail', skipped: '– skipped' } as const;

/** Each rule of the gate policy with its verdict for a version, as `loupe gate` prints it. */
export function GateVerdicts({ gate }: { gate: GateResult }) {
  return (
    <div className="gate">
      <p className={gate.passed ? 'alert success' : 'alert error'}>
        {gate.passed ? 'The gate passes' : 'The gate fails'} on {gate.split} of{' '}
        {gate.datasetVersion.slice(0, 12)}
        {gate.champion ? `, against ${gate.champion}` : ', with no champion to compare against'}.
      </p>
      <div className="table-scroll">
        <table>
          <caption>Gate rules</caption>
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Verdict</th>
              <th scope="col">Value</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {gate.rules.map((r, i) => (
              <tr key={i} className={`verdict-${r.verdict}`}>
                <th scope="row">{r.rule}</th>
                <td>{MARK[r.verdict]}</td>
                <td className="number">{r.value === undefined ? '–' : num(r.value)}</td>
                <td>{r.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
