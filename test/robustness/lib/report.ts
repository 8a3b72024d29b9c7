import { appendFileSync } from 'node:fs';

/**
 * Figures a robustness test reports (cycles, operations, histories checked,
 * faults injected). In a long run (npm run test:robustness) the runner sets
 * KVS_ROBUSTNESS_REPORT to a file and prints what every test appended to it;
 * otherwise the figures go to the test's diagnostics only.
 */
export function reportFigures(test: string, figures: Record<string, number | string>): void {
  const file = process.env.KVS_ROBUSTNESS_REPORT;
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ test, ...figures })}\n`);
}
