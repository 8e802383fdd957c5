import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { terminate } from './processes.js';

/** CNCF distribution (Debian's docker-registry) on 127.0.0.1: the real upstream for remote docker repositories. */
export interface Distribution {
  url: string;
  host: string;
  /** Requests distribution logged, e.g. countRequests('GET', '/v2/team/app/blobs/'). */
  countRequests(method: string, pathPrefix: string): Promise<number>;
  stop(): Promise<void>;
}

export const DISTRIBUTION_BIN = process.env.DISTRIBUTION_BIN ?? '/usr/bin/docker-registry';

/**
 * Runs distribution in `dir` with `config` (YAML after its storage and address, which this sets) on a free port,
 * once it answers; `stop` ends it and removes `dir`.
 */
export async function runDistribution(dir: string, config: string): Promise<{ url: string; port: number; log: string; stop(): Promise<void> }> {
  const port = await freePort();
  const log = join(dir, 'registry.log');
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1
storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }
http: { addr: 127.0.0.1:${port} }
${config}
`,
  );
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
    port,
    log,
    async stop() {
      await terminate(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startDistribution(): Promise<Distribution> {
  const dir = await mkdtemp(join(tmpdir(), 'aa-distribution-'));
  const reg = await runDistribution(dir, 'log: { level: info, formatter: json, accesslog: { disabled: false } }');
  return {
    url: reg.url,
    host: `127.0.0.1:${reg.port}`,
    async countRequests(method, pathPrefix) {
      await new Promise((r) => setTimeout(r, 100));
      const text = await readFile(reg.log, 'utf8');
      return text.split('\n').filter((l) => l.includes(`"${method} ${pathPrefix}`)).length;
    },
    stop: reg.stop,
  };
}
