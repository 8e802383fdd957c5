/**
 * The standard `Server-Timing` header (W3C Server Timing): named durations in milliseconds, for a client, a
 * browser's devtools or a benchmark to tell where the time of a slow response went (the upstream's answer, a
 * commit's writes) without the server's logs.
 */
export function serverTiming(durations: Readonly<Record<string, number>>): string {
  return Object.entries(durations)
    .map(([name, ms]) => `${name};dur=${ms.toFixed(1)}`)
    .join(', ');
}

/** Milliseconds since `t0` (a `performance.now()` reading). */
export function since(t0: number): number {
  return performance.now() - t0;
}
