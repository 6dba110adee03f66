// A caller that drops a watched worker after the watchdog stopped its job, without stop(): prints
// where the job was; watchdog.test.ts checks that, and that this process still exits by itself.
// Its host runs hmmlab's build when the test suite's setup built it (watchdog.test.ts).
import { hostsFromBuild, ownModule, WatchedWorker } from './watchdog.ts';

const loader = import.meta.resolve('tsx/esm/api');
const jobs = new URL('./watchdog-jobs.test-fixture.mjs', import.meta.url).href;
const build = hostsFromBuild();
const w = new WatchedWorker({ loader, build, hangTimeoutMs: Number(process.argv[3] ?? 300), heapMb: 64 });
const e = await w.call(jobs, process.argv[2] ?? 'spin', ownModule('heartbeat', build)).catch((x) => x);
const s = e?.stall;
process.stdout.write(
  s === undefined
    ? `${String(e)}\n`
    : `${JSON.stringify({ kind: s.kind, phase: s.phase, run: s.run, decisions: s.decisions, message: s.message ?? null })}\n`,
);
