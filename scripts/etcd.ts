/**
 * Runs a throwaway local etcd in the foreground for trying the functions by hand
 * (`npm run invoke`, `serverless invoke local`): http://127.0.0.1:2379 unless ETCD_PORT says
 * otherwise. Ctrl-C stops it and deletes its data.
 *
 *   npm run etcd
 */
import { startLocalEtcd } from '../test/kit/local-etcd';

const etcd = await startLocalEtcd({ clientPort: Number(process.env.ETCD_PORT ?? 2379) });
console.log(`etcd listening on ${etcd.endpoint} (Ctrl-C to stop)\n  export ETCD_ENDPOINTS=${etcd.endpoint}`);
const stop = async () => {
  await etcd.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => undefined, 1 << 30);
