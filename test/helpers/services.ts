import { execFileSync } from 'node:child_process';

let cached: boolean | undefined;

/**
 * Server-mode suites need PostgreSQL and Redis on 127.0.0.1. When either is missing the suite is
 * skipped with a loud warning (never silently): run scripts/services.sh to start them.
 */
export function serverModeAvailable(): boolean {
  if (cached !== undefined) return cached;
  const ok = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore', timeout: 3000 });
      return true;
    } catch {
      return false;
    }
  };
  const pg = ok('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432']);
  const redis = ok('redis-cli', ['-h', '127.0.0.1', 'ping']);
  cached = pg && redis;
  if (!cached) {
    console.warn(
      `\n!!!! SKIPPING server-mode tests: ${pg ? '' : 'PostgreSQL '}${redis ? '' : 'Redis '}not reachable on 127.0.0.1 — run scripts/services.sh !!!!\n`,
    );
  }
  return cached;
}
