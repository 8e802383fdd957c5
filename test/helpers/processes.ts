import type { ChildProcess } from 'node:child_process';

/** Stops a process a test started (SIGTERM) and waits for it to exit; nothing to do when it already has. */
export async function terminate(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}
