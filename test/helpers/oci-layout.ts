import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface Layout {
  dir: string;
  tag: string;
  manifestDigest: string;
  blobDigests: string[];
}

/**
 * An OCI image layout built by hand (what skopeo reads with `oci:DIR:TAG`): real gzipped tar layers of random
 * files, an image config and manifest, an index naming the tag.
 */
export async function makeLayout(layers: number[], tag = 'v1'): Promise<Layout> {
  const dir = await mkdtemp(join(tmpdir(), 'aa-oci-'));
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    const h = sha(b);
    await writeFile(join(blobs, h), b);
    return h;
  };
  const layerDescs = [];
  const diffIds = [];
  for (const [i, size] of layers.entries()) {
    const src = await mkdtemp(join(tmpdir(), 'aa-layer-'));
    await writeFile(join(src, `file-${i}.bin`), randomBytes(size));
    const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
    await rm(src, { recursive: true, force: true });
    diffIds.push(`sha256:${sha(tar)}`);
    const gz = execFileSync('gzip', ['-n', '-1'], { input: tar, maxBuffer: 1 << 30 });
    layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${await put(gz)}`, size: gz.length });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }));
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${await put(config)}`, size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: layerDescs }));
  const manifestDigest = `sha256:${await put(manifest)}`;
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { dir, tag, manifestDigest, blobDigests: [configDesc.digest, ...layerDescs.map((l) => l.digest)] };
}
