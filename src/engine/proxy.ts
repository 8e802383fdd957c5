import { BlockList, isIP } from 'node:net';

/**
 * The outgoing proxy for upstream requests, as curl and Go read it from the environment: HTTPS_PROXY for https
 * upstreams (tunnelled with CONNECT), HTTP_PROXY for http ones (absolute-form requests), NO_PROXY for the hosts to
 * reach directly.
 */
export interface ProxySettings {
  http?: string;
  https?: string;
  noProxy?: string;
}

/** Where a connection to an upstream goes instead: the proxy, and how to authenticate to it. */
export interface ProxyRoute {
  host: string;
  port: number;
  /** `Basic …` for the proxy, from the user and password in its URL. */
  authorization?: string;
  /** `host:port`, for messages and connection-pool keys (never the credentials). */
  key: string;
}

/** A repository's `upstream.proxy` that means: connect directly, whatever the server's proxy settings. */
export const NO_PROXY = 'none';

/** Thrown for a proxy URL that cannot be used; the caller turns it into a configuration error. */
export class ProxyUrlError extends Error {
  override name = 'ProxyUrlError';
}

/** `http://[user:password@]host[:port][/]`; a value without a scheme is taken as http, as curl does. */
export function parseProxyUrl(raw: string): ProxyRoute {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new ProxyUrlError(`not a URL: "${raw}"`);
  }
  if (u.protocol !== 'http:') throw new ProxyUrlError(`only http:// proxies are supported (TLS to upstreams goes through them with CONNECT), got ${u.protocol}//`);
  if (!u.hostname) throw new ProxyUrlError(`no host in "${raw}"`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) throw new ProxyUrlError(`a proxy URL has no path or query: "${u.host}${u.pathname}${u.search}"`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 80;
  const route: ProxyRoute = { host, port, key: `${u.hostname}:${port}` };
  if (u.username || u.password) {
    route.authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  }
  return route;
}

/** One NO_PROXY entry: a domain (and its subdomains), an IP address or network, optionally limited to one port. */
interface Exclusion {
  domain?: string;
  network?: BlockList;
  port?: number;
}

function parseExclusion(entry: string): Exclusion {
  let host = entry;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) {
    host = bracketed[1]!;
    if (bracketed[2]) port = Number(bracketed[2]);
  } else {
    const m = /^([^:]+):(\d+)$/.exec(entry);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  const cidr = /^(.+)\/(\d{1,3})$/.exec(host);
  const address = cidr ? cidr[1]! : host;
  const family = isIP(address);
  if (family) {
    const network = new BlockList();
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (cidr) network.addSubnet(address, Math.min(Number(cidr[2]), family === 6 ? 128 : 32), type);
    else network.addAddress(address, type);
    return { network, port };
  }
  // `.example.com` and `*.example.com` mean what `example.com` means: the domain and every name under it.
  return { domain: host.replace(/^\*?\./, '').replace(/\.$/, ''), port };
}

/** Picks the proxy for each upstream URL, or none. */
export class ProxySelector {
  private readonly http: ProxyRoute | undefined;
  private readonly https: ProxyRoute | undefined;
  private readonly all: boolean;
  private readonly exclusions: Exclusion[];

  constructor(settings: ProxySettings) {
    this.http = settings.http ? parseProxyUrl(settings.http) : undefined;
    this.https = settings.https ? parseProxyUrl(settings.https) : undefined;
    const entries = (settings.noProxy ?? '')
      .split(/[\s,]+/)
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean);
    this.all = entries.includes('*');
    this.exclusions = entries.filter((e) => e !== '*').map(parseExclusion);
  }

  get enabled(): boolean {
    return Boolean(this.http || this.https);
  }

  /** The proxy for `url`, or undefined to connect directly. */
  routeFor(url: URL): ProxyRoute | undefined {
    const proxy = url.protocol === 'https:' ? this.https : url.protocol === 'http:' ? this.http : undefined;
    if (!proxy || this.all) return undefined;
    const host = (url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname).toLowerCase().replace(/\.$/, '');
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    const family = isIP(host);
    for (const e of this.exclusions) {
      if (e.port !== undefined && e.port !== port) continue;
      if (e.network) {
        if (family && e.network.check(host, family === 6 ? 'ipv6' : 'ipv4')) return undefined;
      } else if (e.domain && (host === e.domain || host.endsWith(`.${e.domain}`))) {
        return undefined;
      }
    }
    return proxy;
  }
}

/** What the log says about the proxy settings (never the credentials), or undefined when there is no proxy. */
export function describeProxy(settings: ProxySettings): { https?: string; http?: string; noProxy?: string } | undefined {
  if (!settings.http && !settings.https) return undefined;
  return {
    ...(settings.https ? { https: parseProxyUrl(settings.https).key } : {}),
    ...(settings.http ? { http: parseProxyUrl(settings.http).key } : {}),
    ...(settings.noProxy ? { noProxy: settings.noProxy } : {}),
  };
}
