import { DIRECT_AFTER } from './durable-file.js';
import { FsBlobStore } from './fs-store.js';
import { S3BlobStore, type S3Config } from './s3-store.js';
import type { BlobStore } from './types.js';

export type StorageConfig = { driver: 'fs'; dir: string; directWrites?: boolean } | ({ driver: 's3' } & S3Config);

export async function createBlobStore(cfg: StorageConfig): Promise<BlobStore> {
  if (cfg.driver === 'fs') return new FsBlobStore(cfg.dir, cfg.directWrites ? { directWritesAfter: DIRECT_AFTER } : {}).init();
  const store = new S3BlobStore(cfg);
  await store.ensureBucket();
  return store;
}
