import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ok, run } from './go-modules.js';

/**
 * A real Go checksum database as a static tree, made by golang.org/x/mod/sumdb itself (the copy Go vendors for
 * cmd/go, compiled offline): the test server signs records for the given module versions (their h1: hashes
 * computed by dirhash from a GOPROXY tree), and its handler's answers (latest, lookup/…, tile/…) are written to
 * files as a static mirror of `{proxy}/sumdb/{name}/`. Returns the verifier key, the value for GOSUMDB.
 */
function vendored(goroot: string, pkg: string): string {
  return join(goroot, 'src', 'cmd', 'vendor', 'golang.org', 'x', pkg);
}

const GENERATOR = `package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	tree, name, out, mods := os.Args[1], os.Args[2], os.Args[3], os.Args[4:]
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	must(err)
	gosum := func(path, vers string) ([]byte, error) {
		ep, err := module.EscapePath(path)
		must(err)
		ev, err := module.EscapeVersion(vers)
		must(err)
		dir := filepath.Join(tree, ep, "@v")
		h1, err := dirhash.HashZip(filepath.Join(dir, ev+".zip"), dirhash.Hash1)
		if err != nil {
			return nil, err
		}
		mod, err := os.ReadFile(filepath.Join(dir, ev+".mod"))
		if err != nil {
			return nil, err
		}
		hmod, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(mod)), nil })
		must(err)
		return []byte(fmt.Sprintf("%s %s %s\\n%s %s/go.mod %s\\n", path, vers, h1, path, vers, hmod)), nil
	}
	srv := sumdb.NewServer(sumdb.NewTestServer(skey, gosum))
	get := func(p string) []byte {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			panic(fmt.Sprintf("%s: %d %s", p, rec.Code, rec.Body.String()))
		}
		return rec.Body.Bytes()
	}
	write := func(p string, data []byte) {
		f := filepath.Join(out, filepath.FromSlash(p))
		must(os.MkdirAll(filepath.Dir(f), 0o755))
		must(os.WriteFile(f, data, 0o644))
	}
	lookups := []string{}
	for _, m := range mods {
		i := strings.LastIndex(m, "@")
		ep, err := module.EscapePath(m[:i])
		must(err)
		ev, err := module.EscapeVersion(m[i+1:])
		must(err)
		lookups = append(lookups, "lookup/"+ep+"@"+ev)
	}
	// First pass adds the records; the second answers every lookup with the final signed tree.
	for _, l := range lookups {
		get("/" + l)
	}
	for _, l := range lookups {
		write(l, get("/"+l))
	}
	write("latest", get("/latest"))
	for _, t := range tlog.NewTiles(8, 0, int64(len(mods))) {
		write(t.Path(), get("/"+t.Path()))
		if t.L == 0 {
			t.L = -1
			write(t.Path(), get("/"+t.Path()))
		}
	}
	write("supported", nil)
	fmt.Print(vkey)
}
`;

export async function buildSumdb(work: string, opts: { tree: string; name: string; out: string; modules: string[]; gocache: string }): Promise<string> {
  const dir = await mkdtemp(join(work, 'sumdbgen-'));
  // GOROOT/src/cmd/vendor holds the x/mod and x/crypto packages cmd/go is built from (golang-go ships them).
  const goroot = ok(await run('go', ['env', 'GOROOT'], { env: { PATH: process.env.PATH, HOME: dir } })).stdout.trim();
  await cp(vendored(goroot, 'mod'), join(dir, 'xmod'), { recursive: true });
  await cp(vendored(goroot, 'crypto'), join(dir, 'xcrypto'), { recursive: true });
  await writeFile(join(dir, 'xmod', 'go.mod'), 'module golang.org/x/mod\n\ngo 1.17\n');
  await writeFile(join(dir, 'xcrypto', 'go.mod'), 'module golang.org/x/crypto\n\ngo 1.17\n');
  await writeFile(
    join(dir, 'go.mod'),
    'module sumdbgen\n\ngo 1.19\n\nrequire (\n\tgolang.org/x/mod v0.0.0\n\tgolang.org/x/crypto v0.0.0\n)\n\nreplace golang.org/x/mod => ./xmod\n\nreplace golang.org/x/crypto => ./xcrypto\n',
  );
  await writeFile(join(dir, 'main.go'), GENERATOR);
  await mkdir(opts.out, { recursive: true });
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    GOPATH: join(dir, 'gopath'),
    GOMODCACHE: join(dir, 'modcache'),
    GOCACHE: opts.gocache,
    GOPROXY: 'off',
    GOFLAGS: '-mod=mod -modcacherw',
    GOSUMDB: 'off',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
  const r = ok(await run('go', ['run', '.', opts.tree, opts.name, opts.out, ...opts.modules], { cwd: dir, env }));
  return r.stdout.trim();
}
