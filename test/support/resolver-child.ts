/**
 * Run as a child process by the resolver tests: makes one call through the etcd resolver (which
 * opens its own etcd client), closes the channel, prints one JSON line `{ answer }` 300 ms later,
 * and exits by itself 500 ms after that. A watch or timer the resolver left behind would keep the
 * process alive; a connection it left open is seen by the parent's proxy while the child waits.
 *
 *   node --import tsx test/support/resolver-child.ts <etcd endpoint> <target>
 */
import { registerEtcdResolver, roundRobin } from '../../lib/discovery/grpc-resolver';
import { check, healthClient } from '../kit/local-grpc';

const [etcdEndpoint, target] = process.argv.slice(2) as [string, string];
registerEtcdResolver({ hosts: etcdEndpoint });
const client = healthClient(target, roundRobin);
let answer: string;
try {
  answer = await check(client, { deadlineMs: 10_000 });
} catch (err) {
  answer = `error: ${(err as Error).message}`;
}
client.close();
setTimeout(() => {
  console.log(JSON.stringify({ answer }));
  setTimeout(() => undefined, 500);
}, 300);
