#!/usr/bin/env node
// An RPM local repository with BASE packages takes EXTRA more uploads: how long from the last upload's response
// until repodata/repomd.xml lists all of them (and the primary.xml it names is there, matches its checksum and
// lists every package), against createrepo_c --update over a directory tree given the same files (the way a
// static yum repository is maintained). Writes native-bench/results/rpm.md. Needs rpmbuild and createrepo_c.
//   node native-bench/rpm.mjs [BASE=2000] [EXTRA=100]
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { req } from './lib/http.mjs';
import { median } from './lib/proc.mjs';
import { startArtifactapi, TOKEN } from './lib/servers.mjs';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const BASE = Number(process.argv[2] ?? 2000);
const EXTRA = Number(process.argv[3] ?? 100);
const REPS = 3;
const CHUNK = 350; // subpackages per rpmbuild run: rpmbuild's time per subpackage grows with their number
const UPLOAD_CONCURRENCY = 8;
const work = mkdtempSync(join(tmpdir(), 'aa-bench-rpm-'));
const log = (...a) => console.error('[rpm]', ...a);
const seconds = (t0) => (performance.now() - t0) / 1000;

// ---- fixtures: BASE + EXTRA distinct noarch rpms, each with one file, from a few rpmbuild runs ----
// One spec builds CHUNK subpackages `bench-NNNN` (a real rpmbuild per package would take an hour); two runs at a
// time on this 2-core machine.
async function buildChunk(first, count) {
  const top = join(work, `top-${first}`);
  const names = Array.from({ length: count }, (_, i) => String(first + i).padStart(4, '0'));
  const spec = [
    `Name: benchrpm-${first}`,
    'Version: 1.0',
    'Release: 1',
    'Summary: rpm benchmark fixtures',
    'License: MIT',
    'BuildArch: noarch',
    '%description',
    'Subpackages for the rpm benchmark.',
    '%install',
    `for n in ${names.join(' ')}; do mkdir -p %{buildroot}/usr/share/benchrpm/$n; echo "bench $n" > %{buildroot}/usr/share/benchrpm/$n/data.txt; done`,
    ...names.flatMap((n) => [
      `%package -n bench-${n}`,
      `Summary: bench-${n}, a package of the rpm benchmark`,
      'Requires: /bin/sh',
      `Provides: bench-capability-${n} = 1.0`,
      `%description -n bench-${n}`,
      `bench-${n} exists to be listed in repodata.`,
      `%files -n bench-${n}`,
      `/usr/share/benchrpm/${n}/data.txt`,
    ]),
    '',
  ].join('\n');
  mkdirSync(top, { recursive: true });
  writeFileSync(join(top, 'bench.spec'), spec);
  await run('rpmbuild', ['-bb', '--define', `_topdir ${top}`, '--define', '_buildhost bench-host', join(top, 'bench.spec')], { maxBuffer: 256 * 1024 * 1024 });
  const out = join(top, 'RPMS', 'noarch');
  return readdirSync(out).map((f) => ({ name: f, path: join(out, f) }));
}

const TOTAL = BASE + EXTRA;
const t0 = performance.now();
const chunks = [];
for (let first = 0; first < TOTAL; first += CHUNK) chunks.push([first, Math.min(CHUNK, TOTAL - first)]);
const built = [];
for (let i = 0; i < chunks.length; i += 2) built.push(...(await Promise.all(chunks.slice(i, i + 2).map(([f, c]) => buildChunk(f, c)))).flat());
built.sort((a, b) => a.name.localeCompare(b.name));
if (built.length !== TOTAL) throw new Error(`built ${built.length} rpms, expected ${TOTAL}`);
for (const b of built) b.body = readFileSync(b.path);
const base = built.slice(0, BASE);
const extra = built.slice(BASE);
log(`built ${TOTAL} rpms in ${seconds(t0).toFixed(1)} s (${chunks.length} rpmbuild runs)`);

// ---- what "consistent" means, for both: repomd.xml names a primary.xml that is there, matches, and lists all ----
/** `read(path)` → Buffer | null. True when repomd.xml lists `want` packages in a primary that matches its checksum. */
async function consistent(read, want) {
  const repomd = await read('repodata/repomd.xml');
  if (!repomd) return false;
  const data = /<data type="primary">([\s\S]*?)<\/data>/.exec(repomd.toString())?.[1];
  const href = data && /<location href="([^"]+)"/.exec(data)?.[1];
  const sum = data && /<checksum type="sha256">([0-9a-f]{64})</.exec(data)?.[1];
  if (!href || !sum) return false;
  const gz = await read(href);
  if (!gz || createHash('sha256').update(gz).digest('hex') !== sum) return false;
  const xml = gunzipSync(gz).toString();
  const listed = xml.match(/<package type="rpm">/g)?.length ?? 0;
  return listed === want && xml.includes(`packages="${want}"`);
}

/** Poll until consistent; seconds since `from`, and how many reads of repomd.xml it took. */
async function timeToConsistent(read, want, from) {
  for (let polls = 1; ; polls++) {
    if (await consistent(read, want)) return { s: seconds(from), polls };
    if (seconds(from) > 600) throw new Error(`repodata never listed ${want} packages`);
  }
}

// ---- artifactapi: uploads through the API, reads through HTTP ----
async function upload(aa, repo, files) {
  let next = 0;
  let last = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++];
      const r = await req(aa.port, 'PUT', `/${repo}/Packages/${f.name}`, { token: TOKEN, headers: { 'content-length': f.body.length }, block: f.body, blocks: 1 });
      if (r.status !== 201) throw new Error(`PUT ${f.name}: ${r.status}`);
      last = performance.now();
    }
  };
  await Promise.all(Array.from({ length: UPLOAD_CONCURRENCY }, worker));
  return last;
}

function httpReader(aa, repo) {
  return async (path) => {
    const r = await fetch(`http://127.0.0.1:${aa.port}/${repo}/${path}`);
    const body = Buffer.from(await r.arrayBuffer());
    return r.status === 200 ? body : null;
  };
}

// ---- createrepo_c: files copied into a tree, then createrepo_c --update over it ----
async function createrepo(dir, update) {
  await run('createrepo_c', ['--no-database', ...(update ? ['--update'] : []), dir], { maxBuffer: 64 * 1024 * 1024 });
}

const fileReader = (dir) => async (path) => {
  try {
    return readFileSync(join(dir, path));
  } catch {
    return null;
  }
};

const results = {};
const add = (k, v) => (results[k] ??= []).push(v);
const aa = await startArtifactapi({ engine: 'uws' });
const who = `artifactapi (${aa.name.replace('artifactapi ', '')}, embedded)`;
try {
  for (let rep = 0; rep < REPS; rep++) {
    const repo = `rpm${rep}`;
    const r = await aa.createRepo({ name: repo, package_type: 'rpm', repo_type: 'local' });
    if (r.status !== 201) throw new Error(`create ${repo}: ${r.status}`);
    const read = httpReader(aa, repo);
    let t = performance.now();
    await upload(aa, repo, base);
    add(`${BASE} uploads (${UPLOAD_CONCURRENCY} at a time): ${who}`, seconds(t));
    t = performance.now();
    await timeToConsistent(read, BASE, t);
    add(`first repodata read after ${BASE} uploads: ${who}`, seconds(t));
    t = performance.now();
    const last = await upload(aa, repo, extra);
    add(`${EXTRA} more uploads: ${who}`, (last - t) / 1000);
    const done = await timeToConsistent(read, TOTAL, last);
    if (done.polls !== 1) log(`rep ${rep}: ${done.polls} reads before consistent`);
    add(`**last of ${EXTRA} uploads → repodata lists ${TOTAL}: ${who}**`, done.s);
    t = performance.now();
    if (!(await consistent(read, TOTAL))) throw new Error('repodata changed without an upload');
    add(`repodata read again, nothing changed: ${who}`, seconds(t));

    const dir = join(work, `tree${rep}`);
    mkdirSync(join(dir, 'Packages'), { recursive: true });
    for (const f of base) copyFileSync(f.path, join(dir, 'Packages', f.name));
    t = performance.now();
    await createrepo(dir, false);
    add(`createrepo_c over ${BASE} packages (initial run)`, seconds(t));
    // The peer's "upload": the files land in the tree; then it takes an --update run.
    for (const f of extra) copyFileSync(f.path, join(dir, 'Packages', f.name));
    const copied = performance.now();
    await createrepo(dir, true);
    const peer = await timeToConsistent(fileReader(dir), TOTAL, copied);
    if (peer.polls !== 1) throw new Error('createrepo_c --update finished without consistent repodata');
    add(`**last of ${EXTRA} files copied → createrepo_c --update done: createrepo_c**`, peer.s);
    rmSync(dir, { recursive: true, force: true });
    log(`repetition ${rep + 1} done`);
  }
} finally {
  await aa.stop();
}

const key = (prefix) => Object.keys(results).find((k) => k.startsWith(prefix));
const ours = median(results[key('**last of')]);
const theirs = median(results[key(`**last of ${EXTRA} files copied`)]);
const lines = [
  `# RPM local repository: ${BASE} packages, then ${EXTRA} more (${new Date().toISOString()})`,
  '',
  `${REPS} repetitions, median (min) seconds; lower is better. Packages: ${TOTAL} distinct noarch rpms (one file, one requires, one provides each) from rpmbuild.`,
  `artifactapi: uploads by HTTP PUT; "repodata lists ${TOTAL}" is the first GET of repodata/repomd.xml after the last upload's response whose primary.xml (fetched, checksum checked, gunzipped) lists all ${TOTAL} — repodata is built at that read.`,
  `createrepo_c ${createrepoVersion()} (--no-database, its default worker count): the same files copied into a tree, then \`createrepo_c --update\`; timed from the last copy to the end of the run, and its repodata checked the same way.`,
  '',
  '| run | seconds |',
  '|---|---|',
];
for (const [k, v] of Object.entries(results)) lines.push(`| ${k} | ${median(v).toFixed(3)} (${Math.min(...v).toFixed(3)}) |`);
lines.push('', `Last upload to consistent repodata: createrepo_c --update takes ${(theirs / ours).toFixed(2)}× the time artifactapi takes (>1: artifactapi is faster).`);
const md = lines.join('\n') + '\n';
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'rpm.md'), md);
console.log(md);
rmSync(work, { recursive: true, force: true });

function createrepoVersion() {
  return /Version: ([\d.]+)/.exec(execFileSync('createrepo_c', ['--version'], { encoding: 'utf8' }))?.[1] ?? '';
}
