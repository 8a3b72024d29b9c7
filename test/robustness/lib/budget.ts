/**
 * How long the robustness tests run. In `npm test` (CI) each runs its short
 * version; `npm run test:robustness -- --duration 10m` sets
 * KVS_ROBUSTNESS_SECONDS and each test scales its work to fill that time.
 */
export function robustnessSeconds(): number | null {
  const text = process.env.KVS_ROBUSTNESS_SECONDS;
  if (text === undefined || text === '') return null;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`KVS_ROBUSTNESS_SECONDS must be a positive number, got ${text}`);
  return seconds;
}

/** True in a long run (npm run test:robustness). */
export const isLongRun = (): boolean => robustnessSeconds() !== null;

/** A per-test deadline: `shortMs` in CI, else the long run's duration. */
export function deadlineAfter(shortMs: number): number {
  const seconds = robustnessSeconds();
  return Date.now() + (seconds === null ? shortMs : seconds * 1000);
}
