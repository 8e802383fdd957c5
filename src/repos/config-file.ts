import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ConfigError } from '../config.js';

/**
 * The YAML file named by ARTIFACTAPI_CONFIG:
 *
 *   repositories:
 *     - name: pypi-remote
 *       package_type: pypi
 *       repo_type: remote
 *       upstream: { url: https://pypi.org }
 *
 * `${VAR}` in values is replaced from the environment, so credentials need not live in the file.
 */
export async function loadRepoFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ARTIFACTAPI_CONFIG file ${path}: ${(err as Error).message}`);
  }
  const expanded = text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined) throw new ConfigError(`${path}: environment variable ${name} is not set`);
    return v;
  });
  let doc: unknown;
  try {
    doc = parse(expanded);
  } catch (err) {
    throw new ConfigError(`${path}: invalid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${path}: top level must be a mapping with "repositories"`);
  const repos = (doc as Record<string, unknown>).repositories ?? [];
  if (!Array.isArray(repos)) throw new ConfigError(`${path}: "repositories" must be a list`);
  return repos;
}
