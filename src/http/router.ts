import type { HttpRequest, HttpResponse } from './types.js';

export type RouteHandler = (req: HttpRequest, res: HttpResponse, params: Record<string, string>) => Promise<void> | void;

interface Route {
  methods: Set<string>;
  segments: string[];
  handler: RouteHandler;
}

export type Match = { handler: RouteHandler; params: Record<string, string> } | 'method-not-allowed' | null;

/**
 * A small router over raw (still percent-encoded) paths: literal segments, `:param` segments and a trailing
 * `*rest`. Params are returned raw; callers decode and validate them. HEAD matches GET routes.
 */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string | string[], pattern: string, handler: RouteHandler): this {
    const methods = new Set((Array.isArray(method) ? method : [method]).map((m) => m.toUpperCase()));
    if (methods.has('GET')) methods.add('HEAD');
    this.routes.push({ methods, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  match(method: string, rawPath: string): Match {
    const parts = rawPath.split('/').filter(Boolean);
    let pathMatched = false;
    for (const r of this.routes) {
      const params = matchSegments(r.segments, parts);
      if (!params) continue;
      if (r.methods.has(method)) return { handler: r.handler, params };
      pathMatched = true;
    }
    return pathMatched ? 'method-not-allowed' : null;
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith('*')) {
      params[p.slice(1)] = parts.slice(i).join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined) return null;
    if (p.startsWith(':')) params[p.slice(1)] = part;
    else if (p !== part) return null;
  }
  return parts.length === pattern.length ? params : null;
}
