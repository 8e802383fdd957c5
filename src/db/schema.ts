import type { Migration } from './migrations.js';

/**
 * Migration 1: the initial schema. Released migrations are never edited; changes go in a new one.
 *
 * `artifacts.path` is COLLATE "C" (byte order): listings page by path with a cursor, and a prefix
 * is then one contiguous index range — identical on PostgreSQL and PGlite whatever the database's
 * default collation.
 */
export const schemaV1: Migration = {
  version: 1,
  name: 'initial schema',
  sql: `
CREATE TABLE repositories (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  package_type text NOT NULL,
  repo_type text NOT NULL CHECK (repo_type IN ('remote','local','virtual')),
  upstream jsonb,
  members jsonb NOT NULL DEFAULT '[]',
  settings jsonb NOT NULL DEFAULT '{}',
  origin text NOT NULL DEFAULT 'api' CHECK (origin IN ('api','config')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blobs (
  sha256 text PRIMARY KEY,
  size bigint NOT NULL,
  storage_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE artifacts (
  repo_id integer NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  path text COLLATE "C" NOT NULL,
  sha256 text NOT NULL REFERENCES blobs(sha256),
  size bigint NOT NULL,
  content_type text,
  source text NOT NULL CHECK (source IN ('local','remote')),
  digests jsonb NOT NULL DEFAULT '{}',
  etag text,
  last_modified text,
  metadata jsonb NOT NULL DEFAULT '{}',
  fetched_at timestamptz,
  expires_at timestamptz,
  last_accessed_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo_id, path)
);
CREATE INDEX artifacts_sha256_idx ON artifacts(sha256);

CREATE TABLE upload_sessions (
  id uuid PRIMARY KEY,
  repo_id integer NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  kind text NOT NULL,
  state jsonb NOT NULL DEFAULT '{}',
  size bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_sessions_updated_idx ON upload_sessions(updated_at);

CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
`,
};
