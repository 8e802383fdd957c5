import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * No Docker engine runs where this suite runs, so `docker compose config` cannot check the stack: these checks
 * catch what breaks it most often (a dependency on a missing service, an unparameterised port, a lost healthcheck).
 */
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
