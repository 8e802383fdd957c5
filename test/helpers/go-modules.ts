import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** The real go command (golang-go from apt) and module zips built offline with the real `zip`. */

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, maxBuffer: 64 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export function ok(r: CommandResult): CommandResult {
  if (r.code !== 0) throw new Error(`command failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Case encoding of the proxy protocol (an upper-case letter → `!` + lower case). */
export const esc = (s: string) => s.replace(/[A-Z]/g, (c) => '!' + c.toLowerCase());

/**
 * A go command environment with its own module cache (fresh GOPATH/GOMODCACHE/GOCACHE under `home`), talking
 * only to `proxy`. -modcacherw keeps the cache deletable.
 */
export function goEnv(home: string, proxy: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    GOPROXY: proxy,
    GOSUMDB: 'off',
    GOFLAGS: '-mod=mod -modcacherw',
    GOPATH: join(home, 'gopath'),
    GOMODCACHE: join(home, 'modcache'),
    GOCACHE: join(home, 'gocache'),
    GONOSUMDB: '',
    GONOSUMCHECK: '',
    GOPRIVATE: '',
    GONOPROXY: '',
    GOTOOLCHAIN: 'local',
    GO111MODULE: 'on',
    CGO_ENABLED: '0',
    ...extra,
  };
}

export interface ModuleSource {
  module: string;
  version: string;
  /** Files relative to the module root (go.mod included unless the test wants it missing). */
  files: Record<string, string>;
}

/** A module's zip as the go command lays it out (`{module}@{version}/…`, no directory entries), by `zip`. */
export async function moduleZip(work: string, m: ModuleSource): Promise<Buffer> {
  const dir = await mkdtemp(join(work, 'zipsrc-'));
  const root = join(dir, `${m.module}@${m.version}`);
  for (const [name, body] of Object.entries(m.files)) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), body);
  }
  const out = join(dir, 'module.zip');
  ok(await run('zip', ['-q', '-r', '-D', '-X', out, `${m.module}@${m.version}`], { cwd: dir }));
  return readFile(out);
}

/** A library module: package with one function returning `greeting`. */
export function library(module: string, version: string, greeting: string, pkg = 'lib'): ModuleSource {
  return {
    module,
    version,
    files: {
      'go.mod': `module ${module}\n\ngo 1.19\n`,
      [`${pkg}.go`]: `package ${pkg}\n\n// Greeting says which version this is.\nfunc Greeting() string { return ${JSON.stringify(greeting)} }\n`,
    },
  };
}

/**
 * A GOPROXY tree written by the go command itself: the modules are served once from a `file://` proxy laid out
 * by hand, `go mod download` verifies and caches them, and its `$GOMODCACHE/cache/download` (exactly a GOPROXY
 * tree) is copied to `dest`, world-readable for nginx.
 */
export async function goProxyTree(work: string, modules: ModuleSource[], dest: string, gocache: string): Promise<DownloadInfo[]> {
  const seed = await mkdtemp(join(work, 'seed-'));
  const byModule = new Map<string, ModuleSource[]>();
  for (const m of modules) byModule.set(m.module, [...(byModule.get(m.module) ?? []), m]);
  for (const [module, versions] of byModule) {
    const at = join(seed, esc(module), '@v');
    await mkdir(at, { recursive: true });
    for (const m of versions) {
      await writeFile(join(at, `${esc(m.version)}.zip`), await moduleZip(work, m));
      await writeFile(join(at, `${esc(m.version)}.mod`), m.files['go.mod'] ?? `module ${module}\n`);
      await writeFile(join(at, `${esc(m.version)}.info`), JSON.stringify({ Version: m.version, Time: '2024-01-02T03:04:05Z' }));
    }
    await writeFile(join(at, 'list'), versions.map((m) => m.version + '\n').join(''));
  }
  const home = await mkdtemp(join(work, 'seedhome-'));
  const env = goEnv(home, `file://${seed}`, { GOCACHE: gocache });
  const out = ok(await run('go', ['mod', 'download', '-json', ...modules.map((m) => `${m.module}@${m.version}`)], { cwd: home, env }));
  await cp(join(home, 'modcache', 'cache', 'download'), dest, { recursive: true });
  await run('chmod', ['-R', 'a+rX', dest]);
  await chmod(dest, 0o755);
  return parseDownloads(out.stdout);
}

/** What `go mod download -json` prints per module. */
export interface DownloadInfo {
  Path: string;
  Version: string;
  Zip?: string;
  GoMod?: string;
  Sum?: string;
  GoModSum?: string;
  Error?: string;
}

/** `go mod download -json` prints one JSON object after another. */
export function parseDownloads(stdout: string): DownloadInfo[] {
  const text = stdout.trim();
  return text === '' ? [] : (JSON.parse(`[${text.replace(/}\s*{/g, '},{')}]`) as DownloadInfo[]);
}

/** A main module importing `imports` (module path → package import path), built and run; returns its output. */
export async function buildAndRun(work: string, env: NodeJS.ProcessEnv, requires: Record<string, string>, imports: string[]): Promise<string> {
  const dir = await mkdtemp(join(work, 'app-'));
  const req = Object.entries(requires)
    .map(([m, v]) => `\t${m} ${v}\n`)
    .join('');
  await writeFile(join(dir, 'go.mod'), `module example.com/app\n\ngo 1.19\n\nrequire (\n${req})\n`);
  const aliases = imports.map((p, i) => `\tp${i} ${JSON.stringify(p)}\n`).join('');
  const calls = imports.map((_p, i) => `\tfmt.Println(p${i}.Greeting())\n`).join('');
  await writeFile(join(dir, 'main.go'), `package main\n\nimport (\n\t"fmt"\n${aliases})\n\nfunc main() {\n${calls}}\n`);
  ok(await run('go', ['build', '-o', 'app', '.'], { cwd: dir, env }));
  return ok(await run(join(dir, 'app'), [], { cwd: dir })).stdout;
}

/**
 * A zip written byte by byte (stored entries), for archives `zip` refuses to make: traversal names, duplicates,
 * case collisions.
 */
export function storedZip(entries: Array<[name: string, body: string | Buffer]>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, raw] of entries) {
    const body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(body);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x0800, 6); // UTF-8 names
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(body.length, 22);
    lh.writeUInt16LE(n.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(body.length, 24);
    ch.writeUInt16LE(n.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, n, body);
    centrals.push(ch, n);
    offset += 30 + n.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
