import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';

/**
 * Helm has no client in Debian, so these helpers do at the protocol level exactly what `helm repo add`, `helm pull`
 * and `helm package` do, following Helm's pkg/repo/index.go, chartrepo.go and chart Metadata.Validate:
 * the index is decoded strictly (an unknown field makes it unreadable), entries are validated and sorted newest first,
 * chart URLs are resolved against the repository URL taken as a directory.
 */

/** `helm package`: a real gzip tar of `{name}/` made with tar(1). */
export async function packageChart(work: string, name: string, version: string, extra: Record<string, unknown> = {}): Promise<{ file: string; bytes: Buffer; sha256: string }> {
  const src = await mkdtemp(join(work, 'src-'));
  const dir = join(src, name);
  await mkdir(join(dir, 'templates'), { recursive: true });
  const chartYaml = { apiVersion: 'v2', name, version, description: `The ${name} chart`, type: 'application', appVersion: '1.0', ...extra };
  await writeFile(join(dir, 'Chart.yaml'), YAML.stringify(chartYaml));
  await writeFile(join(dir, 'values.yaml'), 'replicas: 1\n');
  await writeFile(join(dir, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n');
  const file = join(await mkdtemp(join(work, 'pkg-')), `${name}-${version}.tgz`);
  execFileSync('tar', ['czf', file, '-C', src, name]);
  const bytes = await readFile(file);
  return { file, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

const INDEX_FIELDS = new Set(['serverInfo', 'apiVersion', 'generated', 'entries', 'publicKeys', 'annotations']);
const METADATA_FIELDS = ['name', 'home', 'sources', 'version', 'description', 'keywords', 'maintainers', 'icon', 'apiVersion', 'condition', 'tags', 'appVersion', 'deprecated', 'annotations', 'kubeVersion', 'dependencies', 'type'];
const CHART_VERSION_FIELDS = new Set([...METADATA_FIELDS, 'urls', 'created', 'removed', 'digest', 'checksum', 'engine', 'tillerVersion', 'url']);
const MAINTAINER_FIELDS = new Set(['name', 'email', 'url']);
const DEPENDENCY_FIELDS = new Set(['name', 'version', 'repository', 'condition', 'tags', 'enabled', 'import-values', 'alias']);
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
// Masterminds semver (non-strict): optional v, optional minor/patch.
const SEMVER = /^v?(0|[1-9]\d*)(\.(0|[1-9]\d*))?(\.(0|[1-9]\d*))?(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

export interface ChartVersion {
  name: string;
  version: string;
  apiVersion: string;
  urls: string[];
  digest?: string;
  created?: string;
  [k: string]: unknown;
}

export interface IndexFile {
  apiVersion: string;
  generated?: string;
  entries: Record<string, ChartVersion[]>;
}

function strict(obj: Record<string, unknown>, allowed: Set<string>, where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.has(k)) throw new Error(`error unmarshaling ${where}: unknown field "${k}"`);
}

function semverKey(v: string): number[] {
  const m = SEMVER.exec(v)!;
  return [Number(m[1]), Number(m[3] ?? 0), Number(m[5] ?? 0), m[6] ? 0 : 1];
}

/** repo.loadIndex: strict decode, defaults, Validate each entry (invalid ones dropped), sort newest first. */
export function loadIndex(text: string): IndexFile {
  const doc = YAML.parse(text, {
    schema: 'core',
    uniqueKeys: true,
    customTags: (tags) => tags.filter((t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:int' && t.tag !== 'tag:yaml.org,2002:float')),
  }) as Record<string, unknown>;
  if (!doc || typeof doc !== 'object') throw new Error('index is not a mapping');
  strict(doc, INDEX_FIELDS, 'index');
  if (!doc.apiVersion) throw new Error('no API version specified');
  if (doc.generated !== undefined && !RFC3339.test(String(doc.generated))) throw new Error(`generated is not RFC 3339: ${String(doc.generated)}`);
  const entries = (doc.entries ?? {}) as Record<string, ChartVersion[]>;
  for (const [name, list] of Object.entries(entries)) {
    if (!Array.isArray(list)) throw new Error(`entries.${name} is not a list`);
    for (const cv of list) {
      strict(cv, CHART_VERSION_FIELDS, `entries.${name}`);
      for (const m of (cv.maintainers as Record<string, unknown>[] | undefined) ?? []) strict(m, MAINTAINER_FIELDS, 'maintainer');
      for (const d of (cv.dependencies as Record<string, unknown>[] | undefined) ?? []) strict(d, DEPENDENCY_FIELDS, 'dependency');
      if (cv.created !== undefined && !RFC3339.test(String(cv.created))) throw new Error(`created is not RFC 3339: ${String(cv.created)}`);
      if (cv.deprecated !== undefined && typeof cv.deprecated !== 'boolean') throw new Error('deprecated is not a bool');
      for (const f of ['urls', 'sources', 'keywords'] as const) if (cv[f] !== undefined && !(Array.isArray(cv[f]) && (cv[f] as unknown[]).every((s) => typeof s === 'string'))) throw new Error(`${f} is not a list of strings`);
    }
    entries[name] = list.filter((cv) => {
      const apiVersion = cv.apiVersion || 'v1';
      return apiVersion && cv.name && cv.name === cv.name.split('/').pop() && typeof cv.version === 'string' && SEMVER.test(cv.version) && [undefined, '', 'application', 'library'].includes(cv.type as string);
    });
    entries[name].sort((a, b) => {
      const x = semverKey(a.version);
      const y = semverKey(b.version);
      for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return y[i]! - x[i]!;
      return 0;
    });
  }
  return { apiVersion: String(doc.apiVersion), generated: doc.generated as string | undefined, entries };
}

/** repo.ResolveReferenceURL: absolute URLs as they are, relative ones against the repository URL as a directory. */
export function resolveReferenceURL(baseURL: string, refURL: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(refURL)) return refURL;
  const base = new URL(baseURL);
  base.pathname = base.pathname.replace(/\/+$/, '') + '/';
  return new URL(refURL, base).href;
}

/** `helm repo add` + `helm pull NAME --version V`: the index, the chart's URL and bytes (digest checked). */
export async function helmPull(repoUrl: string, name: string, version: string, headers: Record<string, string> = {}): Promise<{ url: string; bytes: Buffer; entry: ChartVersion; index: IndexFile }> {
  const res = await fetch(`${repoUrl.replace(/\/+$/, '')}/index.yaml`, { headers });
  if (res.status !== 200) throw new Error(`index.yaml: ${res.status} ${await res.text()}`);
  const index = loadIndex(await res.text());
  const entry = index.entries[name]?.find((cv) => cv.version === version);
  if (!entry) throw new Error(`chart "${name}" version "${version}" not found in ${repoUrl} repository`);
  if (!entry.urls?.length) throw new Error(`chart "${name}" version "${version}" has no downloadable URLs`);
  const url = resolveReferenceURL(repoUrl, entry.urls[0]!);
  const r = await fetch(url, { headers });
  if (r.status !== 200) throw new Error(`failed to fetch ${url} : ${r.status}`);
  const bytes = Buffer.from(await r.arrayBuffer());
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (entry.digest && entry.digest !== sha) throw new Error(`digest mismatch for ${url}: index ${entry.digest}, got ${sha}`);
  return { url, bytes, entry, index };
}

/** Chart.yaml inside a chart archive (what `helm show chart` prints). */
export function chartYamlOf(tgz: string): Record<string, unknown> {
  const name = execFileSync('tar', ['tzf', tgz]).toString().split('\n').find((l) => /^[^/]+\/Chart\.yaml$/.test(l))!;
  return YAML.parse(execFileSync('tar', ['xzf', tgz, '-O', name]).toString()) as Record<string, unknown>;
}
