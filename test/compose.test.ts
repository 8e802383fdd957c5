import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * No Docker engine runs where this suite runs. Compose v1 (Debian's docker-compose) validates the files against the
 * compose schema without one; the checks below catch what breaks the stack most often (a dependency on a missing
 * service, an unparameterised port, a lost healthcheck).
 */
const COMPOSE_V1 = '/usr/bin/docker-compose';
const run = promisify(execFile);

/** `docker-compose config`: interpolation, schema and merge of the given files; throws with compose's message. */
async function composeConfig(files: string[], env: Record<string, string> = {}): Promise<string> {
  const args = files.flatMap((f) => ['-f', f]);
  const { stdout } = await run(COMPOSE_V1, [...args, 'config'], { env: { PATH: process.env.PATH ?? '', ...env } });
  return stdout;
}
interface Service {
  image?: string;
  build?: unknown;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: unknown;
  ports?: string[];
  environment?: Record<string, string>;
}

async function load(file: string): Promise<{ services: Record<string, Service> }> {
  return parse(await readFile(file, 'utf8')) as { services: Record<string, Service> };
}

describe('compose files', () => {
  const noCompose = !existsSync(COMPOSE_V1);
  if (noCompose) console.warn(`compose schema checks SKIPPED: ${COMPOSE_V1} missing (scripts/test-deps.sh installs docker-compose)`);

  it.skipIf(noCompose)('docker compose config accepts the stack and the e2e overlay, and refuses a broken file', async () => {
    const base = parse(await composeConfig(['docker-compose.yml'])) as { services: Record<string, Service> };
    expect(base.services.artifactapi!.ports).toBeDefined();
    const both = parse(await composeConfig(['docker-compose.yml', 'e2e-docker/docker-compose.e2e.yml'], { ARTIFACTAPI_ADMIN_TOKEN: 't' })) as {
      services: Record<string, Service>;
    };
    expect(Object.keys(both.services)).toContain('artifactapi-b');
    // The overlay requires the token run-docker.sh sets: without it compose refuses to start.
    await expect(composeConfig(['docker-compose.yml', 'e2e-docker/docker-compose.e2e.yml'])).rejects.toThrow(/ARTIFACTAPI_ADMIN_TOKEN/);
    // The validator is live: an unknown key is refused.
    const dir = await mkdtemp(join(tmpdir(), 'aa-compose-'));
    try {
      const broken = (await readFile('docker-compose.yml', 'utf8')).replace(/^(\s+)image: postgres:/m, '$1imagee: postgres:');
      await writeFile(join(dir, 'docker-compose.yml'), broken);
      await expect(composeConfig([join(dir, 'docker-compose.yml')])).rejects.toThrow(/imagee/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('docker-compose.yml: every dependency exists and is awaited by health or completion; port parameterised', async () => {
    const { services } = await load('docker-compose.yml');
    expect(Object.keys(services).sort()).toEqual(['artifactapi', 'minio', 'minio-bucket', 'postgres', 'redis']);
    for (const [name, s] of Object.entries(services)) {
      expect(s.image ?? s.build, name).toBeDefined();
      for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully']).toContain(cond.condition);
        if (cond.condition === 'service_healthy') expect(services[dep]!.healthcheck, `${dep} needs a healthcheck`).toBeDefined();
      }
    }
    expect(services.artifactapi!.ports).toEqual(['${ARTIFACTAPI_PORT:-8080}:8080']);
    expect(services.artifactapi!.environment!.DATABASE_URL).toMatch(/@postgres:5432\//);
  });

  it('the e2e overlay adds the fixture upstream and a second replica on the same services', async () => {
    const base = await load('docker-compose.yml');
    const { services } = await load('e2e-docker/docker-compose.e2e.yml');
    const all = { ...base.services, ...services };
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) expect(all[dep], `${name} depends on ${dep}`).toBeDefined();
    }
    const b = services['artifactapi-b']!;
    for (const k of ['DATABASE_URL', 'REDIS_URL', 'S3_ENDPOINT', 'S3_BUCKET']) expect(b.environment![k]).toBe(base.services.artifactapi!.environment![k]);
    expect(b.image).toBe(base.services.artifactapi!.image);
  });
});
