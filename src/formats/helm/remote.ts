import { badGateway } from '../../errors.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { INDEX_TYPE, isMap, nameVersion } from './index-model.js';
import { chartFile, chartUrl, INDEX, parseHelmPath, validChartName } from './paths.js';
import { parseChartVersion } from './semver.js';
import { emitYaml, parseYaml, YamlError, type YamlMap, type YamlValue } from './yaml.js';

/** What a cached index.yaml remembers of each chart it lists, so a chart fetch needs no index parsing. */
interface UpstreamChart {
  url: string;
  digest?: string;
}

export interface IndexMetadata {
  /** By archive file name `{name}-{version}.tgz`. */
  charts: Record<string, UpstreamChart>;
}

/** The repository URL as a directory: Helm resolves relative chart URLs against it (repo.ResolveReferenceURL). */
function upstreamBase(ctx: FormatContext): URL {
  return new URL(ctx.repo.upstream!.url.replace(/\/+$/, '') + '/');
}

export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parseHelmPath(path);
  if (p.kind === 'index') return { url: new URL(INDEX, upstreamBase(ctx)).href };
  if (p.kind !== 'chart' && p.kind !== 'prov') return null;
  // Charts are fetched from where the index said, and nowhere else.
  const index = await ctx.fetched(INDEX);
  const c = (index?.metadata as Partial<IndexMetadata> | undefined)?.charts?.[p.file];
  if (!c) return null;
  if (p.kind === 'prov') return { url: `${c.url}.prov` };
  return { url: c.url, digests: c.digest ? { sha256: c.digest } : undefined };
}

/**
 * The upstream index with every chart's URL pointing into this repository (`charts/{name}-{version}.tgz`, relative
 * to the repository URL); the upstream URLs (absolute, or resolved against the upstream repository URL) and digests
 * go into the row's metadata for `locate`. Entries Helm could not use (no version, unusable name or URL) are dropped.
 */
export async function rewrite(ctx: FormatContext, path: string, body: Buffer): Promise<RewrittenDocument> {
  if (parseHelmPath(path).kind !== 'index') return { body };
  let doc: YamlValue;
  try {
    doc = parseYaml(body.toString('utf8'));
  } catch (err) {
    if (err instanceof YamlError) throw badGateway(`upstream index.yaml is not valid YAML: ${err.message}`);
    throw err;
  }
  if (!isMap(doc) || !isMap(doc.entries)) throw badGateway('upstream index.yaml has no entries mapping');
  const base = upstreamBase(ctx);
  const charts: Record<string, UpstreamChart> = {};
  const entries: YamlMap = {};
  for (const [key, list] of Object.entries(doc.entries)) {
    if (!Array.isArray(list)) continue;
    const kept: YamlMap[] = [];
    for (const rec of list) {
      const nv = nameVersion(rec, key);
      if (!nv || !isMap(rec) || !validChartName(nv.name) || !parseChartVersion(nv.version)) continue;
      const first = Array.isArray(rec.urls) ? rec.urls.find((u): u is string => typeof u === 'string') : undefined;
      if (!first) continue;
      let url: URL;
      try {
        url = new URL(first, base);
      } catch {
        continue;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        // oci:// and other schemes are left for the client to resolve itself.
        kept.push(rec);
        continue;
      }
      const file = chartFile(nv.name, nv.version);
      if (charts[file]) continue;
      const digest = typeof rec.digest === 'string' && /^[0-9a-fA-F]{64}$/.test(rec.digest) ? rec.digest.toLowerCase() : undefined;
      charts[file] = digest ? { url: url.href, digest } : { url: url.href };
      kept.push({ ...rec, urls: [chartUrl(file)] });
    }
    entries[key] = kept;
  }
  const metadata: IndexMetadata = { charts };
  return { body: Buffer.from(emitYaml({ ...doc, entries })), contentType: INDEX_TYPE, metadata: metadata as unknown as Record<string, unknown> };
}
