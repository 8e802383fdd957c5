import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./helpers/pglite-commit.ts', import.meta.url));
const straceWorks = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', 'true']).status === 0;
if (!straceWorks) console.warn('SKIPPED: the embedded database durability test needs strace (apt-get install strace) with ptrace allowed');

describe('embedded database durability', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!straceWorks)('a commit returns only after its WAL is fsynced (system calls traced)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'aa-durable-'));
    const trace = join(dir, 'trace');
    const r = spawnSync('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, '--import', 'tsx', CHILD, join(dir, 'db')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const calls = (await readFile(trace, 'utf8')).split('\n').filter((l) => /f(data)?sync\(/.test(l));
    const before = calls.findIndex((l) => l.includes('before-commit>'));
    const after = calls.findIndex((l) => l.includes('after-commit>'));
    expect(before).toBeGreaterThanOrEqual(0);
    expect(after).toBeGreaterThan(before);
    const during = calls.slice(before + 1, after);
    expect(during.some((l) => /\/pg_wal\/[0-9A-F]{24}>/.test(l) && /= 0$/.test(l.trim())), during.join('\n')).toBe(true);
    // The database created for it (in a child process, without syncing) was synced before it was put in place.
    expect(calls.slice(0, before).some((l) => l.includes('/db.initdb/base/'))).toBe(true);
  });
});
