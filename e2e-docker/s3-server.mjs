// An S3-compatible server for the native e2e stack (the compose stack uses MinIO). Usage: node s3-server.mjs PORT DIR
import S3rver from 's3rver';
const [port, directory] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: Number(port), silent: true, directory, configureBuckets: [{ name: 'artifactapi' }] });
await server.run();
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
