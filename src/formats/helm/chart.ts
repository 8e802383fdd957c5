import type { Readable } from 'node:stream';
import YAML from 'yaml';
import { badRequest } from '../../errors.js';
import { memberName, tarEntries } from '../shared/archive.js';
import { validChartName } from './paths.js';
import { parseChartVersion } from './semver.js';
import type { YamlMap, YamlValue } from './yaml.js';

/**
 * A chart's Chart.yaml, reduced to the fields Helm's index entries carry (pkg/chart Metadata). Helm loads index
 * files with a strict YAML decoder: an unknown field makes the whole index unreadable, so only these are kept.
 */
export interface ChartMetadata {
  name: string;
  version: string;
  apiVersion: string;
  appVersion?: string;
  description?: string;
  home?: string;
  icon?: string;
  sources?: string[];
  keywords?: string[];
  maintainers?: Array<{ name?: string; email?: string; url?: string }>;
  dependencies?: YamlMap[];
  type?: string;
  kubeVersion?: string;
  deprecated?: boolean;
  annotations?: Record<string, string>;
  condition?: string;
  tags?: string;
}

const MAX_CHART_YAML = 1024 * 1024;
const MAX_ENTRIES = 10_000;
const invalid = (message: string) => badRequest('CHART_INVALID', message);

// Chart.yaml numbers stay strings (`version: 1.10`), as Helm reads them into string fields.
const CHART_YAML_OPTIONS = {
  schema: 'core' as const,
  customTags: (tags: YAML.Tags) => tags.filter((t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:int' && t.tag !== 'tag:yaml.org,2002:float')),
  maxAliasCount: 100,
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);

/** Non-printable characters go, white space becomes plain spaces (Helm's sanitizeString). */
const clean = (s: string) => s.replace(/\s/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '');

function strList(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out = v.map(str).filter((s): s is string => s !== undefined).map(clean);
  return out.length ? out : undefined;
}

const DEPENDENCY_FIELDS = ['name', 'version', 'repository', 'condition', 'alias'] as const;

function dependency(v: unknown): YamlMap | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const d = v as Record<string, unknown>;
  const out: YamlMap = {};
  for (const f of DEPENDENCY_FIELDS) {
    const s = str(d[f]);
    if (s !== undefined) out[f] = clean(s);
  }
  if (typeof out.name !== 'string') return undefined;
  // Helm writes `repository` even when empty.
  out.repository ??= '';
  const tags = strList(d.tags);
  if (tags) out.tags = tags;
  if (d.enabled === true) out.enabled = true;
  if (Array.isArray(d['import-values'])) out['import-values'] = d['import-values'] as YamlValue[];
  return out;
}

/** Chart.yaml (and a v1 chart's requirements.yaml) as the index fields, validated like Helm's Metadata.Validate. */
export function chartMetadata(chartYaml: unknown, requirements?: unknown): ChartMetadata {
  if (!chartYaml || typeof chartYaml !== 'object' || Array.isArray(chartYaml)) throw invalid('Chart.yaml is not a mapping');
  const c = chartYaml as Record<string, unknown>;
  const name = str(c.name);
  const version = str(c.version);
  if (!name) throw invalid('Chart.yaml has no name');
  if (!validChartName(name)) throw invalid(`chart name ${JSON.stringify(name)} is invalid (letters, digits, ".", "_" and "-")`);
  if (!version) throw invalid('Chart.yaml has no version');
  if (!parseChartVersion(version)) throw invalid(`chart version ${JSON.stringify(version)} is not a semantic version`);
  const apiVersion = str(c.apiVersion) ?? 'v1';
  if (apiVersion !== 'v1' && apiVersion !== 'v2') throw invalid(`Chart.yaml apiVersion ${apiVersion} is not v1 or v2`);
  const type = str(c.type);
  if (type !== undefined && type !== '' && type !== 'application' && type !== 'library') throw invalid('Chart.yaml type must be application or library');
  const out: ChartMetadata = { name, version, apiVersion };
  for (const f of ['appVersion', 'description', 'home', 'icon', 'kubeVersion', 'condition', 'tags'] as const) {
    const s = str(c[f]);
    if (s) out[f] = clean(s);
  }
  if (type) out.type = type;
  const sources = strList(c.sources);
  if (sources) out.sources = sources;
  const keywords = strList(c.keywords);
  if (keywords) out.keywords = keywords;
  if (c.deprecated === true) out.deprecated = true;
  if (Array.isArray(c.maintainers)) {
    const ms = c.maintainers
      .filter((m): m is Record<string, unknown> => !!m && typeof m === 'object' && !Array.isArray(m))
      .map((m) => {
        const o: { name?: string; email?: string; url?: string } = {};
        for (const f of ['name', 'email', 'url'] as const) {
          const s = str(m[f]);
          if (s) o[f] = clean(s);
        }
        return o;
      });
    if (ms.length) out.maintainers = ms;
  }
  if (c.annotations && typeof c.annotations === 'object' && !Array.isArray(c.annotations)) {
    const a: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.annotations as Record<string, unknown>)) {
      const s = str(v);
      if (s !== undefined) a[k] = s;
    }
    if (Object.keys(a).length) out.annotations = a;
  }
  // apiVersion v1 charts list their dependencies in requirements.yaml; Helm's loader merges them in.
  let deps = c.dependencies;
  if (apiVersion === 'v1' && requirements && typeof requirements === 'object') deps = (requirements as Record<string, unknown>).dependencies ?? deps;
  if (Array.isArray(deps)) {
    const ds = deps.map(dependency).filter((d): d is YamlMap => d !== undefined);
    if (ds.length) out.dependencies = ds;
  }
  return out;
}

function parseYamlFile(buf: Buffer, file: string): unknown {
  const doc = YAML.parseDocument(buf.toString('utf8'), CHART_YAML_OPTIONS);
  if (doc.errors.length) throw invalid(`${file} is not valid YAML: ${doc.errors[0]!.message}`);
  return doc.toJS({ maxAliasCount: 100 });
}

/**
 * Read a packaged chart (gzip tar): its single top-level directory must hold Chart.yaml, and be named after the
 * chart, as `helm package` writes it.
 */
export async function readChart(body: Readable): Promise<ChartMetadata> {
  let chartYaml: { dir: string; data: Buffer } | undefined;
  let requirements: { dir: string; data: Buffer } | undefined;
  let top: string | undefined;
  for await (const e of tarEntries(body, { gzip: true, maxEntries: MAX_ENTRIES })) {
    const name = memberName(e.name);
    if (name === '' || e.type === 'other') continue;
    const parts = name.split('/');
    if (parts.includes('..')) throw invalid(`archive member ${e.name} escapes the chart directory`);
    top ??= parts[0];
    if (parts[0] !== top) throw invalid(`archive has more than one top-level directory (${top}, ${parts[0]})`);
    if (parts.length === 2 && e.type === 'file') {
      if (parts[1] === 'Chart.yaml') chartYaml = { dir: parts[0]!, data: await e.read(MAX_CHART_YAML) };
      else if (parts[1] === 'requirements.yaml') requirements = { dir: parts[0]!, data: await e.read(MAX_CHART_YAML) };
    }
  }
  if (!chartYaml) throw invalid('archive has no {name}/Chart.yaml (not a packaged Helm chart)');
  const meta = chartMetadata(parseYamlFile(chartYaml.data, 'Chart.yaml'), requirements ? parseYamlFile(requirements.data, 'requirements.yaml') : undefined);
  if (meta.name !== chartYaml.dir) throw invalid(`chart ${meta.name} is packaged in directory ${chartYaml.dir}/ (expected ${meta.name}/)`);
  return meta;
}
