import { HttpError } from '../errors.js';
import type { HttpRequest, HttpResponse } from './types.js';

export type RouteHandler = (req: HttpRequest, res: HttpResponse, params: Record<string, string>) => Promise<void> | void;
export type FallbackHandler = (req: HttpRequest, res: HttpResponse) => Promise<void> | void;

export type Match = { handler: RouteHandler; params: Record<string, string> } | 'method-not-allowed' | null;

/** One position in the route tree. Children are tried literal first, then `:param`, then `*rest`. */
interface Node {
  literals: Map<string, Node> | undefined;
  param: { name: string; node: Node } | undefined;
  rest: { name: string; methods: Map<string, RouteHandler> } | undefined;
  /** Handlers of routes that end exactly here, by upper-case method. */
  methods: Map<string, RouteHandler> | undefined;
}

const newNode = (): Node => ({ literals: undefined, param: undefined, rest: undefined, methods: undefined });

/** What a walk of the tree found: a handler for the method, or the methods a path-only match allows. */
interface Found {
  handler: RouteHandler | undefined;
  params: Record<string, string> | undefined;
  allowed: Set<string> | undefined;
}

/**
 * A small router over raw (still percent-encoded) paths.
 *
 * Patterns are `/`-separated: literal segments, `:name` segments (one non-empty raw segment) and a trailing
 * `*name` that takes the raw rest of the path (possibly empty, slashes and a trailing `/` included). Params are
 * returned raw; callers decode and validate them. At each position a literal beats a `:param`, which beats a
 * `*rest`, whatever the order of registration. One trailing `/` on the request path is ignored for routes that
 * do not end in `*rest`. HEAD is answered by the GET handler unless a HEAD handler is registered.
 *
 * When the path matches a route but not for this method, the answer is 405 with an `Allow` header (not the
 * fallback): the path exists, the method is wrong. Only paths that match no route at all go to the fallback,
 * or are a 404 when there is none.
 */
export class Router {
  private readonly root = newNode();
  private fallbackHandler: FallbackHandler | undefined;

  add(method: string | string[], pattern: string, handler: RouteHandler): this {
    if (!pattern.startsWith('/')) throw new Error(`route pattern must start with '/': ${pattern}`);
    const segs = pattern === '/' ? [] : pattern.slice(1).split('/');
    let node = this.root;
    let target: Map<string, RouteHandler> | undefined;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      if (seg === '') throw new Error(`empty segment in route pattern: ${pattern}`);
      if (seg[0] === '*') {
        if (i !== segs.length - 1) throw new Error(`*rest must be the last segment: ${pattern}`);
        const name = paramName(seg, pattern);
        if (node.rest && node.rest.name !== name) throw new Error(`conflicting rest names *${node.rest.name} and ${seg}: ${pattern}`);
        node.rest ??= { name, methods: new Map() };
        target = node.rest.methods;
      } else if (seg[0] === ':') {
        const name = paramName(seg, pattern);
        if (node.param && node.param.name !== name) throw new Error(`conflicting param names :${node.param.name} and ${seg}: ${pattern}`);
        node.param ??= { name, node: newNode() };
        node = node.param.node;
      } else {
        node.literals ??= new Map();
        let next = node.literals.get(seg);
        if (!next) node.literals.set(seg, (next = newNode()));
        node = next;
      }
    }
    target ??= node.methods ??= new Map();
    for (const m of Array.isArray(method) ? method : [method]) {
      const upper = m.toUpperCase();
      if (target.has(upper)) throw new Error(`duplicate route ${upper} ${pattern}`);
      target.set(upper, handler);
    }
    return this;
  }

  /** The handler for requests whose path matches no route. */
  fallback(handler: FallbackHandler): this {
    this.fallbackHandler = handler;
    return this;
  }

  match(method: string, rawPath: string): Match {
    const found = this.find(method, rawPath);
    if (found.handler) return { handler: found.handler, params: found.params! };
    return found.allowed ? 'method-not-allowed' : null;
  }

  /** Methods some route allows on this path (HEAD included where GET is); empty when no route matches. */
  allowedMethods(rawPath: string): string[] {
    return [...(this.find('', rawPath).allowed ?? [])].sort();
  }

  /** Route one request: the matching handler, else 405 (with Allow), else the fallback, else 404. */
  async handle(req: HttpRequest, res: HttpResponse): Promise<void> {
    const found = this.find(req.method, req.rawPath);
    if (found.handler) return found.handler(req, res, found.params!);
    if (found.allowed) {
      const allow = [...found.allowed].sort().join(', ');
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} not allowed on ${req.rawPath}`, { allowed: allow }, { Allow: allow });
    }
    if (this.fallbackHandler) return this.fallbackHandler(req, res);
    throw new HttpError(404, 'NOT_FOUND', `nothing at ${req.rawPath}`);
  }

  private find(method: string, rawPath: string): Found {
    const found: Found = { handler: undefined, params: undefined, allowed: undefined };
    if (rawPath[0] !== '/') return found;
    // A single trailing slash is not a segment ('/a/' is '/a'), except for *rest, which sees the raw path.
    const end = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.length - 1 : rawPath.length;
    walk(this.root, rawPath, 1, end, method, [], found);
    return found;
  }
}

function paramName(seg: string, pattern: string): string {
  const name = seg.slice(1);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad parameter name '${seg}' in route pattern: ${pattern}`);
  return name;
}

function pick(methods: Map<string, RouteHandler>, method: string): RouteHandler | undefined {
  return methods.get(method) ?? (method === 'HEAD' ? methods.get('GET') : undefined);
}

function noteAllowed(found: Found, methods: Map<string, RouteHandler>): void {
  found.allowed ??= new Set();
  for (const m of methods.keys()) {
    found.allowed.add(m);
    if (m === 'GET') found.allowed.add('HEAD');
  }
}

/**
 * Depth-first walk from `pos` (the start of a segment). `values` holds the raw values of the `:param`s taken so
 * far, paired with their names only on success so a failed branch allocates nothing but its slice.
 * Returns true once a handler for `method` was found.
 */
function walk(node: Node, path: string, pos: number, end: number, method: string, values: Array<[string, string]>, found: Found): boolean {
  if (pos >= end) {
    if (node.methods && settle(node.methods, method, values, undefined, '', found)) return true;
  } else {
    let segEnd = path.indexOf('/', pos);
    if (segEnd < 0 || segEnd > end) segEnd = end;
    const seg = path.slice(pos, segEnd);
    const next = segEnd + 1;
    const child = node.literals?.get(seg);
    if (child && walk(child, path, next, end, method, values, found)) return true;
    if (node.param && seg !== '') {
      values.push([node.param.name, seg]);
      if (walk(node.param.node, path, next, end, method, values, found)) return true;
      values.pop();
    }
  }
  // *rest takes everything from here, raw; `pos` may be one past the end for '/files' against '/files/*rest'.
  if (node.rest) return settle(node.rest.methods, method, values, node.rest.name, pos >= path.length ? '' : path.slice(pos), found);
  return false;
}

function settle(methods: Map<string, RouteHandler>, method: string, values: Array<[string, string]>, restName: string | undefined, rest: string, found: Found): boolean {
  const handler = pick(methods, method);
  if (!handler) {
    noteAllowed(found, methods);
    return false;
  }
  const params: Record<string, string> = {};
  for (const [k, v] of values) params[k] = v;
  if (restName !== undefined) params[restName] = rest;
  found.handler = handler;
  found.params = params;
  return true;
}
