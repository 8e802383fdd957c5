import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's python (python3-venv, python3-build, twine from apt), not whatever python is first on PATH. */
export const PYTHON = process.env.PYTHON_BIN ?? '/usr/bin/python3';

export interface Dists {
  wheel: string;
  sdist: string;
}

/** Build a real wheel and sdist of a tiny project with setuptools, offline. */
export async function buildDist(root: string, name: string, version: string): Promise<Dists> {
  const dir = join(root, `${name}-${version}`);
  const mod = name.replace(/[-.]/g, '_');
  await mkdir(join(dir, mod), { recursive: true });
  await writeFile(join(dir, mod, '__init__.py'), `VERSION = "${version}"\n`);
  await writeFile(
    join(dir, 'pyproject.toml'),
    `[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "${name}"\nversion = "${version}"\nrequires-python = ">=3.7"\ndescription = "test package ${name}"\n`,
  );
  await run(PYTHON, ['-m', 'build', '--no-isolation', '-o', join(dir, 'dist'), dir], { cwd: dir });
  const files = await readdir(join(dir, 'dist'));
  const wheel = files.find((f) => f.endsWith('.whl'));
  const sdist = files.find((f) => f.endsWith('.tar.gz'));
  if (!wheel || !sdist) throw new Error(`build of ${name} ${version} produced ${files.join(', ')}`);
  return { wheel: join(dir, 'dist', wheel), sdist: join(dir, 'dist', sdist) };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  try {
    const r = await run(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** A venv with Debian's pip; pip never reads the user's config or cache. */
export async function makeVenv(dir: string): Promise<{ pip: (args: string[]) => Promise<CommandResult> }> {
  await run(PYTHON, ['-m', 'venv', dir]);
  const env = { PIP_CONFIG_FILE: '/dev/null', PIP_NO_CACHE_DIR: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' };
  return { pip: (args) => sh(join(dir, 'bin', 'pip'), args, env) };
}

/** twine from apt, with no ~/.pypirc and no keyring prompts. */
export function twine(args: string[]): Promise<CommandResult> {
  return sh('twine', args, { TWINE_NON_INTERACTIVE: '1', PYTHON_KEYRING_BACKEND: 'keyring.backends.null.Keyring' });
}
