import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/** CNCF distribution (Debian's docker-registry) on 127.0.0.1: the real upstream for remote docker repositories. */
export interface Distribution {
  url: string;
  host: string;
  /** Requests distribution logged, e.g. countRequests('GET', '/v2/team/app/blobs/'). */
  countRequests(method: string, pathPrefix: string): Promise<number>;
  stop(): Promise<void>;
}

export const DISTRIBUTION_BIN = process.env.DISTRIBUTION_BIN ?? '/usr/bin/docker-registry';

export async function startDistribution(): Promise<Distribution> {
  const dir = await mkdtemp(join(tmpdir(), 'aa-distribution-'));
  const port = await freePort();
  const log = join(dir, 'registry.log');
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1
log: { level: info, formatter: json, accesslog: { disabled: false } }
storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }
http: { addr: 127.0.0.1:${port} }
`,
  );
  const { openSync } = await import('node:fs');
  const out = openSync(log, 'a');
  const proc: ChildProcess = spawn(DISTRIBUTION_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', out, out] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    async countRequests(method, pathPrefix) {
      await new Promise((r) => setTimeout(r, 100));
      const text = await readFile(log, 'utf8');
      return text.split('\n').filter((l) => l.includes(`"${method} ${pathPrefix}`)).length;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise<void>((resolve) => {
          proc.once('exit', () => resolve());
          proc.kill('SIGTERM');
        });
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
