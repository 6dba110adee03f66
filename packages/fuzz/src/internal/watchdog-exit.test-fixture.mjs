// A caller that drops a watched worker after the watchdog stopped its job, without stop():
// watchdog.test.ts checks that this process still exits by itself.
import { WatchedWorker } from './watchdog.ts';

const loader = import.meta.resolve('tsx/esm/api');
const jobs = new URL('./watchdog-jobs.test-fixture.mjs', import.meta.url).href;
const w = new WatchedWorker({ loader, hangTimeoutMs: Number(process.argv[3] ?? 300), heapMb: 64 });
const e = await w.call(jobs, process.argv[2] ?? 'spin', null).catch((x) => x);
process.stdout.write(`${e?.stall?.kind ?? String(e)}\n`);
