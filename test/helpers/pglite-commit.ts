// Run as a child process (under strace, by test/pglite-durable.test.ts): opens an embedded database in the directory
// given, commits one row, and fsyncs a marker file right before and right after that commit, so a system-call trace
// shows what the commit itself synced.
import { fsyncSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { openPglite } from '../../src/db/pglite.js';

const dir = process.argv[2]!;
const marker = (name: string) => {
  const fd = openSync(join(dir, '..', name), 'w');
  fsyncSync(fd);
  closeSync(fd);
};
const db = await openPglite(dir);
await db.exec('CREATE TABLE t (a int)');
marker('before-commit');
await db.query('INSERT INTO t VALUES (1)');
marker('after-commit');
await db.close();
