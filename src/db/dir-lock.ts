import { open, readFile, rm } from 'node:fs/promises';
import { DatabaseSetupError } from './errors.js';

/** Lock files this process holds: a stale file carrying our own pid (a restarted container is pid 1 again) is not ours. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take an exclusive lock file for a directory only one process may use (PGlite does not refuse a
 * second opener, and two writers corrupt it). A lock left by a dead process is taken over.
 * Returns the release function.
 */
export async function lockFile(path: string, what: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      held.add(path);
      return async () => {
        held.delete(path);
        await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      const ours = pid === process.pid && held.has(path);
      if (ours || (pid > 0 && pid !== process.pid && alive(pid))) {
        throw new DatabaseSetupError(
          `${what} is in use by ${ours ? 'this process' : `process ${pid}`} (lock file ${path}); ` +
            'stop the other artifactapi, or delete the lock file if none is running',
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new DatabaseSetupError(`could not take the lock file ${path}`);
}
