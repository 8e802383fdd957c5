import { badRequest, notFound } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/types.js';
import { sendJson } from '../../http/respond.js';
import type { FormatContext } from '../types.js';
import { deletePackage, deleteTarball, putPackage, setDistTag } from './local.js';
import { validName } from './names.js';

type Endpoint = (ctx: FormatContext, req: HttpRequest, res: HttpResponse) => Promise<void>;

/** `npm whoami`: the admin token is the only identity. */
const whoami: Endpoint = async (ctx, req, res) => {
  await ctx.writer(req);
  sendJson(res, 200, { username: 'admin' });
};

/** Legacy `npm login` (`PUT /-/user/org.couchdb.user:{name}`): the password is the admin token, handed back as the token. */
const login: Endpoint = async (ctx, req, res) => {
  let body: unknown;
  try {
    body = JSON.parse((await req.readBody(64 * 1024)).toString('utf8'));
  } catch {
    throw badRequest('BODY_INVALID', 'expected a JSON object with name and password');
  }
  const password = (body as { password?: unknown } | null)?.password;
  if (typeof password !== 'string' || password === '') throw badRequest('BODY_INVALID', 'expected a JSON object with name and password');
  const asToken = Object.create(req, { header: { value: (n: string) => (n.toLowerCase() === 'authorization' ? `Bearer ${password}` : req.header(n)) } }) as HttpRequest;
  await ctx.writer(asToken);
  sendJson(res, 201, { ok: true, token: password });
};

const noAudit: Endpoint = async () => {
  throw notFound('security advisories are not served by this registry; npm audit is not available here', 'AUDIT_UNAVAILABLE');
};

/** The handler for one of npm's non-GET endpoints, or undefined: the path is a document or tarball read. */
export function endpoint(path: string, method: string): Endpoint | undefined {
  if (path === '-/whoami' && method === 'GET') return whoami;
  if (path.startsWith('-/user/org.couchdb.user:') && method === 'PUT') return login;
  if (path.startsWith('-/npm/v1/security/')) return noAudit;
  const tag = /^-\/package\/(.+)\/dist-tags\/([^/]+)$/.exec(path);
  if (tag) return (ctx, req, res) => setDistTag(ctx, tag[1]!, tag[2]!, req, res);
  if (method === 'PUT') {
    const name = /^(.+?)(?:\/-rev\/[^/]+)?$/.exec(path)?.[1];
    if (name && validName(name)) return (ctx, req, res) => putPackage(ctx, name, req, res);
  }
  if (method === 'DELETE') {
    const file = /^(.+)\/-\/([^/]+\.tgz)\/-rev\/[^/]+$/.exec(path);
    if (file && validName(file[1]!)) return (ctx, req, res) => deleteTarball(ctx, file[1]!, file[2]!, req, res);
    const pkg = /^(.+)\/-rev\/[^/]+$/.exec(path);
    if (pkg && validName(pkg[1]!)) return (ctx, req, res) => deletePackage(ctx, pkg[1]!, req, res);
  }
  return undefined;
}
