import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temporary file of a test run goes under one directory, removed when the run ends: the tests' own, and those
 * of the tools they start (skopeo, nginx, distribution, rpmbuild…), which read TMPDIR too. A test that fails or
 * forgets its cleanup then leaves nothing behind in /tmp.
 */
export default function setup(): () => void {
  const before = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'aa-test-run-'));
  // Set before the workers start: they inherit it, and os.tmpdir() reads it on every call.
  process.env.TMPDIR = root;
  return () => {
    rmSync(root, { recursive: true, force: true });
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  };
}
