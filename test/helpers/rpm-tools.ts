import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A tiny package as rpmbuild makes it (offline, noarch). */
export interface RpmSpec {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  summary?: string;
  /** Spec preamble lines (Requires:, Provides:, Recommends:, …). */
  preamble?: string[];
  /** path → content of files installed by the package. */
  files?: Record<string, string>;
  /** Directories to create in the buildroot (for %dir lines). */
  dirs?: string[];
  /** Extra %files lines (%dir, %ghost, %config). */
  fileLines?: string[];
  /** Extra spec sections appended verbatim (subpackages). */
  extra?: string;
  changelog?: string;
}

/** Build a spec with `rpmbuild -bb` into `{work}/rpms/{name}/`; returns the .rpm paths it made. */
export async function buildRpm(work: string, spec: RpmSpec): Promise<string[]> {
  const top = await mkdtemp(join(work, `top-${spec.name}-`));
  const files = spec.files ?? {};
  const install = Object.entries(files)
    .map(([path, content]) => `mkdir -p "%{buildroot}$(dirname ${path})"\nprintf '%%s' '${content.replace(/%/g, '%%').replace(/'/g, "'\\''")}' > "%{buildroot}${path}"`)
    .concat((spec.dirs ?? []).map((d) => `mkdir -p "%{buildroot}${d}"`))
    .join('\n');
  const text = [
    `Name: ${spec.name}`,
    ...(spec.epoch !== undefined ? [`Epoch: ${spec.epoch}`] : []),
    `Version: ${spec.version}`,
    `Release: ${spec.release}`,
    `Summary: ${spec.summary ?? `${spec.name} test package`}`,
    'License: MIT',
    'URL: https://example.invalid/rpm-test',
    'BuildArch: noarch',
    ...(spec.preamble ?? []),
    '%description',
    `${spec.name} is a package built by the artifactapi tests & checked <verbatim>.`,
    '%install',
    install,
    '%files',
    ...Object.keys(files),
    ...(spec.fileLines ?? []),
    ...(spec.extra ? [spec.extra] : []),
    '%changelog',
    spec.changelog ?? `* Mon Jan 01 2024 Tester <tester@example.invalid> - ${spec.version}-${spec.release}\n- Built for the tests`,
    '',
  ].join('\n');
  const specFile = join(top, `${spec.name}.spec`);
  await writeFile(specFile, text);
  await run('rpmbuild', ['-bb', '--define', `_topdir ${top}`, '--define', '_buildhost rpm-test-host', specFile], { maxBuffer: 16 * 1024 * 1024 });
  const out = join(top, 'RPMS', 'noarch');
  return (await readdir(out)).sort().map((f) => join(out, f));
}

/** `n` subpackages `{name}-000…` of one spec (one rpmbuild run), for upload bursts. */
export function subpackages(name: string, n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const sub = `${name}-${String(i).padStart(3, '0')}`;
    lines.push(`%package -n ${sub}`, `Summary: ${sub} of the burst`, `%description -n ${sub}`, `${sub}.`, `%files -n ${sub}`);
  }
  return lines.join('\n');
}

/** `createrepo_c` over a directory (no sqlite databases), as a mirror would publish it. */
export async function createrepo(dir: string, extra: string[] = []): Promise<void> {
  await run('createrepo_c', ['--no-database', ...extra, dir]);
}

/**
 * dnf pointed at one repository URL only, with every state directory in a temp dir (nothing from the host's
 * configuration, no root needed for an installroot that holds nothing).
 */
export async function dnfClient(work: string, url: string) {
  const dir = await mkdtemp(join(work, 'dnf-'));
  await mkdir(join(dir, 'root'), { recursive: true });
  const conf = join(dir, 'dnf.conf');
  await writeFile(conf, '[main]\ngpgcheck=0\nskip_if_unavailable=False\nmetadata_expire=0\nkeepcache=False\n');
  // --refresh: metadata_expire=0 still counts a cache written in the same second as fresh.
  const base = [
    '-q',
    '-y',
    '--refresh',
    '--setopt=reposdir=/dev/null',
    '--config',
    conf,
    `--repofrompath=r,${url}`,
    '--repo=r',
    '--setopt=r.gpgcheck=0',
    '--installroot',
    join(dir, 'root'),
    '--releasever=1',
    `--setopt=cachedir=${join(dir, 'cache')}`,
  ];
  return {
    dir,
    async run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      try {
        const r = await run('dnf', [...base, ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
      }
    },
  };
}
