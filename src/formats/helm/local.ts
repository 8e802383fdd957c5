import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { badRequest, notFound, tooLarge } from '../../errors.js';
import { sendJson } from '../../http/respond.js';
import type { HttpRequest, HttpResponse } from '../../http/types.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { GeneratedIndexes, type IndexFiles } from '../shared/generated-index.js';
import { multipartBoundary, multipartParts } from '../shared/multipart.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import { readChart, type ChartMetadata } from './chart.js';
import { INDEX_TYPE, JSON_TYPE, newest, renderIndex, sortNewestFirst, versionRecord, type IndexEntries } from './index-model.js';
import { CHARTS_DIR, chartFile, chartPath, chartUrl, INDEX, parseHelmPath } from './paths.js';
import type { YamlMap } from './yaml.js';

/** What a stored chart keeps in its metadata: its Chart.yaml fields, so the index is built without reading archives. */
interface ChartRow {
  chart: ChartMetadata;
}

const PAGE = 1000;
const MAX_CHARTS = 200_000;
/** Charts are small (Helm itself refuses archives over 100 MB decompressed); uploads through the API are buffered. */
const MAX_API_CHART = 64 * 1024 * 1024;
const MAX_PROV = 256 * 1024;
export const PROV_TYPE = 'application/pgp-signature';

/** PUT uploads: `charts/{name}-{version}.tgz` and its provenance `charts/{name}-{version}.tgz.prov`. */
export function validateUpload(path: string): string {
  const k = parseHelmPath(path).kind;
  if (k !== 'chart' && k !== 'prov') throw badRequest('PATH_INVALID', 'Helm uploads go to charts/{name}-{version}.tgz (or POST api/charts)');
  return path;
}

/** The archive must be the chart its name says: `{name}/Chart.yaml` with that name and version. */
export async function inspect(path: string, blob: StagedBlob): Promise<Record<string, unknown>> {
  const p = parseHelmPath(path);
  if (p.kind === 'prov') {
    if (blob.size > MAX_PROV) throw badRequest('PROVENANCE_INVALID', `provenance file larger than ${MAX_PROV} bytes`);
    const head = await readHead(blob, 64);
    if (!head.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) throw badRequest('PROVENANCE_INVALID', 'a provenance file is a PGP clear-signed message');
    return {};
  }
  if (p.kind !== 'chart') return {};
  const meta = await readChart(await blob.open());
  const expected = chartFile(meta.name, meta.version);
  if (p.file !== expected) throw badRequest('METADATA_MISMATCH', `${p.file} contains chart ${meta.name} version ${meta.version} (the file must be named ${expected})`);
  const row: ChartRow = { chart: meta };
  return row as unknown as Record<string, unknown>;
}

async function readHead(blob: StagedBlob, n: number): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of await blob.open({ start: 0, end: Math.min(n, blob.size) - 1 })) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('latin1');
}

async function storedCharts(ctx: FormatContext): Promise<ArtifactEntry[]> {
  const out: ArtifactEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.artifacts.list(CHARTS_DIR, { after, limit: PAGE });
    for (const e of page) if (e.path.endsWith('.tgz') && (e.metadata as Partial<ChartRow>).chart) out.push(e);
    if (page.length < PAGE || out.length >= MAX_CHARTS) return out;
    after = page[page.length - 1]!.path;
  }
}

/** index.yaml and the ChartMuseum API documents, built together once per change of the stored charts. */
async function buildFiles(ctx: FormatContext): Promise<IndexFiles> {
  const entries: IndexEntries = new Map();
  const times: string[] = [];
  for (const e of await storedCharts(ctx)) {
    const meta = (e.metadata as unknown as ChartRow).chart;
    const file = e.path.slice(CHARTS_DIR.length);
    // Upload time, not the clock: every replica builds the same bytes.
    const rec = versionRecord(meta, e.updatedAt, e.sha256, chartUrl(file));
    times.push(e.updatedAt.toISOString());
    let list = entries.get(meta.name);
    if (!list) entries.set(meta.name, (list = []));
    list.push(rec);
  }
  const files = new Map<string, Buffer>([[INDEX, renderIndex(entries, newest(times))]]);
  const all: Record<string, YamlMap[]> = {};
  for (const name of [...entries.keys()].sort()) {
    const versions = sortNewestFirst(entries.get(name)!);
    all[name] = versions;
    files.set(`api/charts/${name}`, Buffer.from(JSON.stringify(versions)));
    for (const v of versions) files.set(`api/charts/${name}/${String(v.version)}`, Buffer.from(JSON.stringify(v)));
  }
  files.set('api/charts', Buffer.from(JSON.stringify(all)));
  return files;
}

const indexes = new GeneratedIndexes();
/** Digests of generated files, computed once per build: a virtual repository keys its merge by them. */
const digests = new WeakMap<Buffer, string>();
const digestOf = (b: Buffer) => {
  let d = digests.get(b);
  if (!d) digests.set(b, (d = createHash('sha256').update(b).digest('hex')));
  return d;
};

/** index.yaml and `api/charts[/{name}[/{version}]]` generated from what is stored. */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parseHelmPath(path);
  let key: string;
  if (p.kind === 'index') key = INDEX;
  else if (p.kind === 'api-list') key = 'api/charts';
  else if (p.kind === 'api-chart') key = `api/charts/${p.name}`;
  else if (p.kind === 'api-version') key = `api/charts/${p.name}/${p.version}`;
  else return null;
  const files = await indexes.current(ctx, 'charts', CHARTS_DIR, () => buildFiles(ctx));
  const body = files.get(key);
  if (!body) return null;
  return bufferServable(body, p.kind === 'index' ? INDEX_TYPE : JSON_TYPE, 'local', { sha256: digestOf(body) });
}

async function readLimited(body: Readable, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > max) throw tooLarge(`${what} larger than ${max} bytes`, 'SIZE_LIMIT_EXCEEDED');
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** The chart archive a provenance file signs: its `files:` section names `{name}-{version}.tgz`. */
function provChartFile(prov: Buffer): string {
  const text = prov.toString('utf8');
  if (!text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) throw badRequest('PROVENANCE_INVALID', 'a provenance file is a PGP clear-signed message');
  const m = /^files:\s*\n\s+"?([A-Za-z0-9][A-Za-z0-9._+-]*\.tgz)"?\s*:\s*sha256:[0-9a-f]{64}/m.exec(text);
  if (!m) throw badRequest('PROVENANCE_INVALID', 'provenance file names no chart archive in its files: section');
  return m[1]!;
}

const forced = (req: HttpRequest) => {
  const f = req.query.get('force');
  return f !== null && f !== 'false' && f !== '0';
};

/**
 * ChartMuseum's upload API, which `helm cm-push` and CI scripts speak: `POST api/charts` with the chart as the body
 * or as the multipart field `chart` (with an optional `prov`), `POST api/prov` for a provenance file alone.
 * `?force` replaces an existing version.
 */
export async function upload(ctx: FormatContext, req: HttpRequest, res: HttpResponse, provOnly: boolean): Promise<void> {
  const writer = await ctx.writer(req);
  let chart: Buffer | undefined;
  let prov: Buffer | undefined;
  if (/^multipart\/form-data/i.test(req.header('content-type') ?? '')) {
    for await (const part of multipartParts(req.body(), multipartBoundary(req.header('content-type')))) {
      if (part.name === 'chart' && !provOnly) chart = await readLimited(part.body, MAX_API_CHART, 'chart');
      else if (part.name === 'prov') prov = await readLimited(part.body, MAX_PROV, 'provenance file');
    }
  } else if (provOnly) prov = await readLimited(req.body(), MAX_PROV, 'provenance file');
  else chart = await readLimited(req.body(), MAX_API_CHART, 'chart');
  if (!provOnly && (!chart || chart.length === 0)) throw badRequest('UPLOAD_INVALID', 'no chart in the request (send the .tgz as the body or as the multipart field "chart")');
  if (provOnly && !prov) throw badRequest('UPLOAD_INVALID', 'no provenance file in the request (body or multipart field "prov")');
  const overwrite = forced(req) || undefined;
  let file: string;
  if (chart) {
    const meta = await readChart(Readable.from([chart]));
    file = chartFile(meta.name, meta.version);
    // Both checked before either is stored.
    if (prov && provChartFile(prov) !== file) throw badRequest('PROVENANCE_INVALID', `provenance file does not sign ${file}`);
    await writer.put(chartPath(file), chart, { overwrite, signal: req.signal, contentType: 'application/gzip' });
  } else file = provChartFile(prov!);
  if (prov) await writer.put(`${chartPath(file)}.prov`, prov, { overwrite, signal: req.signal, contentType: PROV_TYPE });
  sendJson(res, 201, { saved: true });
}

/** ChartMuseum's `DELETE api/charts/{name}/{version}`: the archive and its provenance file. */
export async function deleteVersion(ctx: FormatContext, name: string, version: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  const writer = await ctx.writer(req);
  const path = chartPath(chartFile(name, version));
  const deleted = await writer.delete(path);
  await writer.delete(`${path}.prov`);
  if (!deleted) throw notFound(`chart ${name} version ${version} not found in ${writer.target.repo.name}`, 'ARTIFACT_NOT_FOUND');
  sendJson(res, 200, { deleted: true });
}
