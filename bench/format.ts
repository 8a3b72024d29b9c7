/** How the bench writes its figures: a row's throughput ratio, and whole numbers with thousands separators. */
export function ratio(row: { subject: { requestsPerSecond: number }; anchor: { requestsPerSecond: number } }): string {
  return `${(row.subject.requestsPerSecond / row.anchor.requestsPerSecond).toFixed(2)}x`;
}

export function fmt(value: number): string {
  return Math.round(value).toLocaleString('en');
}
