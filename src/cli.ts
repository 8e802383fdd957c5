import { readFile } from 'node:fs/promises';
import { AdminClient, ApiError, type RepositoryJson } from './client/admin-client.js';

export const USAGE = `usage: artifactapi <command> [options]

commands:
  serve                          start the server (configuration from the environment; see README)
  status                         health of a running server
  gc [--dry-run]                 garbage-collect unreferenced blobs, stale uploads, over-quota caches
  repo list                      list repositories
  repo show NAME                 one repository as JSON
  repo add --file DEF.json       create a repository from a JSON definition (or --json '{...}')
  repo add NAME TYPE KIND [--upstream URL] [--member NAME]... [--deploy-to NAME]
  repo rm NAME                   delete a repository

options (or environment):
  --url URL      server (ARTIFACTAPI_URL, default http://127.0.0.1:8080)
  --token TOKEN  admin token (ARTIFACTAPI_TOKEN or ARTIFACTAPI_ADMIN_TOKEN)
`;

export class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
}

function parse(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const boolean = name === 'dry-run';
    const value = eq > 0 ? a.slice(eq + 1) : boolean ? 'true' : argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positional, flags };
}

const one = (p: Parsed, name: string) => p.flags.get(name)?.at(-1);

function table(repos: RepositoryJson[]): string {
  const rows = repos.map((r) => [r.name, r.package_type, r.repo_type, r.upstream?.url ?? (r.members.length ? r.members.join(',') : '-')]);
  const head = ['NAME', 'TYPE', 'KIND', 'UPSTREAM/MEMBERS'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** Every command but `serve`: talks to a running server through the typed admin client. Returns the output. */
export async function runClientCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const p = parse(argv);
  const [cmd, sub, ...rest] = p.positional;
  const client = new AdminClient(one(p, 'url') ?? env.ARTIFACTAPI_URL ?? 'http://127.0.0.1:8080', one(p, 'token') ?? env.ARTIFACTAPI_TOKEN ?? env.ARTIFACTAPI_ADMIN_TOKEN);
  switch (cmd) {
    case 'status': {
      const h = await client.health();
      const lines = Object.entries(h.checks).map(([k, c]) => `${k.padEnd(9)} ${c.ok ? 'ok' : 'FAILING'}  ${c.driver}  ${c.ms} ms${c.error ? `  ${c.error}` : ''}`);
      return `status    ${h.status}\n${lines.join('\n')}\n`;
    }
    case 'gc': {
      const r = await client.gc(one(p, 'dry-run') === 'true');
      return `${r.dryRun ? 'would delete' : 'deleted'} ${r.blobsDeleted} blobs (${r.bytesFreed} bytes), ${r.orphanObjectsDeleted} orphan objects; evicted ${r.cacheEntriesEvicted} cache entries; reaped ${r.uploadSessionsReaped} upload sessions (${r.ms} ms)\n`;
    }
    case 'repo':
      switch (sub) {
        case 'list':
          return table(await client.listRepositories());
        case 'show':
          if (!rest[0]) throw new UsageError('repo show NAME');
          return JSON.stringify(await client.getRepository(rest[0]), null, 2) + '\n';
        case 'rm':
          if (!rest[0]) throw new UsageError('repo rm NAME');
          await client.deleteRepository(rest[0]);
          return `deleted ${rest[0]}\n`;
        case 'add': {
          let def: Record<string, unknown>;
          const file = one(p, 'file');
          const json = one(p, 'json');
          if (file || json) {
            try {
              def = JSON.parse(json ?? (await readFile(file!, 'utf8')));
            } catch (err) {
              throw new UsageError(`repository definition: ${(err as Error).message}`);
            }
          } else {
            const [name, type, kind] = rest;
            if (!name || !type || !kind) throw new UsageError('repo add NAME TYPE KIND, or repo add --file DEF.json');
            def = { name, package_type: type, repo_type: kind };
            const upstream = one(p, 'upstream');
            if (upstream) def.upstream = { url: upstream };
            if (p.flags.get('member')) def.members = p.flags.get('member');
            const deploy = one(p, 'deploy-to');
            if (deploy) def.settings = { deploy_to: deploy };
          }
          const r = await client.createRepository(def);
          return `created ${r.repo_type} ${r.package_type} repository ${r.name}\n`;
        }
      }
      throw new UsageError(`unknown repo command "${sub ?? ''}"`);
  }
  throw new UsageError(`unknown command "${cmd ?? ''}"`);
}

/** One clear line for any failure. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code}${err.status ? `, HTTP ${err.status}` : ''})`;
  return err instanceof Error ? err.message : String(err);
}
