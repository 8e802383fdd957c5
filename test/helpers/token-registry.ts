import { createHash, randomBytes, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDistribution } from './distribution.js';
import { selfSignedCert } from './tls-cert.js';

const SERVICE = 'test-registry';
const ISSUER = 'test-token-issuer';

/** What each user may do, by repository name: `{ 'team/private': ['pull'] }`. */
export type Grants = Record<string, string[]>;

/**
 * CNCF distribution with token authentication (the Docker Hub scheme): every request needs a bearer token, which
 * its realm, a token server started here, issues for HTTP Basic credentials. The tokens are real JWTs that
 * distribution verifies against the server's certificate; each grants what its user may do of what was asked.
 */
export interface TokenRegistry {
  url: string;
  /** A token for `actions` on `repo` (to seed the registry). */
  mint(repo: string, actions: string[]): string;
  /** Token requests served, by user ('' for anonymous ones). */
  tokenRequests(user: string): number;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenRegistry(users: Record<string, { password: string; grants: Grants }>): Promise<TokenRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'aa-token-registry-'));
  const { certPath, keyPath } = selfSignedCert(dir);
  const key = readFileSync(keyPath);
  const der = Buffer.from(
    readFileSync(certPath, 'utf8')
      .replace(/-----[^-]+-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  const mint = (sub: string, access: Array<{ type: string; name: string; actions: string[] }>) => {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: ISSUER, sub, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    return `${head}.${claims}.${b64url(sign('RSA-SHA256', Buffer.from(`${head}.${claims}`), key))}`;
  };
  const served = new Map<string, number>();
  const tokens: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    const [name, password] = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':') : ['', ''];
    const user = name ? users[name] : undefined;
    if (name && (!user || user.password !== password)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    served.set(name ?? '', (served.get(name ?? '') ?? 0) + 1);
    // scope=repository:team/app:pull,push — grant what was asked and the user may do.
    const access = u.searchParams.getAll('scope').flatMap((scope) => {
      const m = /^repository:([^:]+):(.+)$/.exec(scope);
      if (!m) return [];
      const allowed = user?.grants[m[1]!] ?? [];
      return [{ type: 'repository', name: m[1]!, actions: m[2]!.split(',').filter((a) => allowed.includes(a)) }];
    });
    const token = mint(name ?? '', access);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', () => r()));
  const realm = `http://127.0.0.1:${(tokens.address() as { port: number }).port}/token`;

  const reg = await runDistribution(dir, `log: { level: warn }
auth: { token: { realm: "${realm}", service: ${SERVICE}, issuer: ${ISSUER}, rootcertbundle: ${certPath} } }`);
  return {
    url: reg.url,
    mint: (repo, actions) => mint('seeder', [{ type: 'repository', name: repo, actions }]),
    tokenRequests: (user) => served.get(user) ?? 0,
    async stop() {
      await reg.stop();
      await new Promise<void>((r) => tokens.close(() => r()));
    },
  };
}

/** Pushes `body` as a blob of `repo` with a token minted for it; returns its digest. */
export async function seedBlob(reg: TokenRegistry, repo: string, body: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const auth = { authorization: `Bearer ${reg.mint(repo, ['pull', 'push'])}` };
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: auth });
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`starting an upload: ${start.status}`);
  const location = new URL(start.headers.get('location')!, reg.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`finishing an upload: ${put.status}`);
  return digest;
}
