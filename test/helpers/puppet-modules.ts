import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ModuleSpec {
  owner: string;
  name: string;
  version: string;
  dependencies?: Array<{ name: string; version_requirement: string }>;
  /** Write this into metadata.json instead of `owner-name` (to test refusals). */
  metadataName?: string;
  metadataVersion?: string;
  /** Directory name inside the tarball (default owner-name-version, as `puppet module build`/PDK make it). */
  topDir?: string;
}

/** Build a module release tarball the way PDK does: `{owner}-{name}-{version}/` with metadata.json and a manifest. */
export async function buildModule(work: string, spec: ModuleSpec): Promise<string> {
  const release = `${spec.owner}-${spec.name}-${spec.version}`;
  const src = await mkdtemp(join(work, 'mod-'));
  const top = spec.topDir ?? release;
  await mkdir(join(src, top, 'manifests'), { recursive: true });
  const metadata = {
    name: spec.metadataName ?? `${spec.owner}-${spec.name}`,
    version: spec.metadataVersion ?? spec.version,
    author: spec.owner,
    summary: `${spec.name} test module`,
    license: 'Apache-2.0',
    source: `https://example.org/${spec.owner}/${spec.name}`,
    project_page: `https://example.org/${spec.owner}/${spec.name}`,
    dependencies: spec.dependencies ?? [],
    operatingsystem_support: [{ operatingsystem: 'Debian', operatingsystemrelease: ['12'] }],
    requirements: [{ name: 'puppet', version_requirement: '>= 6.0.0 < 9.0.0' }],
  };
  await writeFile(join(src, top, 'metadata.json'), JSON.stringify(metadata, null, 2));
  await writeFile(join(src, top, 'manifests', 'init.pp'), `class ${spec.name} {\n  notify { '${release}': }\n}\n`);
  await writeFile(join(src, top, 'README.md'), `# ${spec.name}\n`);
  // Each tarball in its own directory under its release file name (broken variants share names with good ones).
  const out = join(src, `${release}.tar.gz`);
  await run('tar', ['-czf', out, '-C', src, '--owner=0', '--group=0', top]);
  return out;
}

export interface PuppetResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `puppet module install` against a repository, isolated from the system: its own HOME, confdir, codedir,
 * vardir and target directory, so nothing under /etc/puppet is read or written.
 */
export async function puppetModule(work: string, args: string[]): Promise<PuppetResult> {
  const home = await mkdtemp(join(work, 'home-'));
  const dirs = ['confdir', 'codedir', 'vardir', 'logdir', 'rundir'];
  const flags = dirs.flatMap((d) => [`--${d}`, join(home, d)]);
  try {
    const { stdout, stderr } = await run('puppet', ['module', ...args, ...flags], { env: { ...process.env, HOME: home }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
