// @ts-check
// Creates a new embedded database (PostgreSQL's initdb) in a process of its own. initdb grows PGlite's WebAssembly
// memory by ≈ 500 MiB and a WebAssembly memory never shrinks: run in the server, that stayed in its RSS for good
// (724 MiB after a first start against 222 MiB after a restart on the same directory). A worker thread gave back
// only part of it (≈ 150 MiB stayed with the process); a process gives back all of it when it exits.
// Plain JavaScript so the same file runs from src/ (vitest) and from dist/ (tsc copies it there).
// Usage: node pglite-initdb.mjs <directory> <postgresql settings as a JSON array>. A failure is reported as one
// JSON line ({ name, message }) on stderr and exit code 1.
import { PGlite } from '@electric-sql/pglite';

const [dir, conf] = process.argv.slice(2);
try {
  if (!dir || !conf) throw new TypeError('usage: pglite-initdb.mjs <directory> <settings JSON>');
  const db = await PGlite.create(dir, { postgresqlconf: JSON.parse(conf) });
  await db.close();
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`${JSON.stringify({ name: e.name, message: e.message })}\n`);
  process.exit(1);
}
