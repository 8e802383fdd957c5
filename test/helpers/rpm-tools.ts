import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
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
 * configuration, no root needed for an installroot that holds nothing). With `gpgkey`, repomd.xml must carry a
 * valid signature by that key (repo_gpgcheck), the key imported from that URL into dnf's own keyring.
 */
export async function dnfClient(work: string, url: string, opts: { gpgkey?: string } = {}) {
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
    ...(opts.gpgkey ? ['--setopt=r.repo_gpgcheck=1', `--setopt=r.gpgkey=${opts.gpgkey}`] : []),
  ];
  return {
    dir,
    run: (args: string[]) => tool('dnf', [...base, ...args]),
  };
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a client to its end; a non-zero exit is a result, not a throw (tests assert refusals too). */
async function tool(cmd: string, args: string[]): Promise<ToolResult> {
  try {
    const r = await run(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** GnuPG with its own home directory under `work` (the host's keyrings are never touched). */
export async function gpgHome(work: string) {
  const home = await mkdtemp(join(work, 'gnupg-'));
  await chmod(home, 0o700);
  const gpg = (args: string[]) => tool('gpg', ['--homedir', home, '--batch', '--no-tty', ...args]);
  return {
    gpg,
    /** `gpg --verify sig data` against exactly the keys in `keys` (armored), in a home of its own each time. */
    async verify(keys: Buffer, sig: Buffer, data: Buffer): Promise<ToolResult> {
      const dir = await mkdtemp(join(home, 'v-'));
      await chmod(dir, 0o700);
      await writeFile(join(dir, 'keys.asc'), keys);
      await writeFile(join(dir, 'data.asc'), sig);
      await writeFile(join(dir, 'data'), data);
      const own = (args: string[]) => tool('gpg', ['--homedir', dir, '--batch', '--no-tty', ...args]);
      const imported = await own(['--import', join(dir, 'keys.asc')]);
      if (imported.code !== 0) return imported;
      return own(['--status-fd', '1', '--verify', join(dir, 'data.asc'), join(dir, 'data')]);
    },
    /** A fresh signing key (no passphrase) for `uid`; `detachSign` signs with it as mirrors do. */
    async generateKey(uid: string): Promise<void> {
      const r = await gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', uid, 'rsa2048', 'sign', 'never']);
      if (r.code !== 0) throw new Error(`gpg --quick-gen-key: ${r.stderr}`);
    },
    async detachSign(file: string): Promise<void> {
      const r = await gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--yes', '--armor', '--detach-sign', '--output', `${file}.asc`, file]);
      if (r.code !== 0) throw new Error(`gpg --detach-sign: ${r.stderr}`);
    },
    async exportKey(uid: string, to: string): Promise<void> {
      const r = await gpg(['--armor', '--output', to, '--yes', '--export', uid]);
      if (r.code !== 0) throw new Error(`gpg --export: ${r.stderr}`);
    },
    /** Ends the gpg-agent that key generation started for this home. */
    async stop(): Promise<void> {
      await tool('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    },
  };
}
