import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface Verdaccio {
  url: string;
  storage: string;
  /** A token for a user created on start (Verdaccio refuses anonymous publishes from npm). */
  token: string;
  stop(): Promise<void>;
}

const BIN = join(process.cwd(), 'node_modules', '.bin', 'verdaccio');

/** A real npm registry (Verdaccio) on loopback, storage in a temp dir, no uplinks. */
export async function startVerdaccio(): Promise<Verdaccio> {
  const dir = await mkdtemp(join(tmpdir(), 'aa-verdaccio-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  await writeFile(
    join(dir, 'config.yaml'),
    `storage: ${storage}\nauth:\n  htpasswd:\n    file: ${join(dir, 'htpasswd')}\n    max_users: 100\nuplinks: {}\npackages:\n  '@*/*':\n    access: $all\n    publish: $authenticated\n  '**':\n    access: $all\n    publish: $authenticated\nlog: { type: stdout, format: pretty, level: error }\n`,
  );
  const proc: ChildProcess = spawn(BIN, ['--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/-/ping`)).ok) break;
    } catch {
      /* starting */
    }
    if (i > 300) throw new Error('verdaccio did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const user = await fetch(`${url}/-/user/org.couchdb.user:ci`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ci', password: 'ci-password-1' }) });
  const { token } = (await user.json()) as { token: string };
  return {
    url,
    storage,
    token,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
