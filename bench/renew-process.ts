/**
 * The renew function's bundle in a process of its own, as one Lambda container: told to tick with
 * a remaining time, it runs the handler and answers with the summary, the tick's wall time and the
 * process's peak memory so far (what Lambda's "Max Memory Used" reports).
 */
import { lambdaContext } from '../test/kit/lambda';
import { loadBundle } from './support';

const renew = await loadBundle('renew');
process.on('message', async (message: { remainingMs: number }) => {
  const started = performance.now();
  try {
    const summary = await renew({}, lambdaContext('renew', message.remainingMs));
    process.send!({
      summary,
      wallMs: performance.now() - started,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
    });
  } catch (err) {
    process.send!({
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      wallMs: performance.now() - started,
    });
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
