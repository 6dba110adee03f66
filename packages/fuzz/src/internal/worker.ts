/**
 * The job server of a watched worker (watchdog.ts): runs `fn(args)` of a module for each job
 * message and replies with its result or what it threw; passes notes on to the running job.
 */
import { parentPort } from 'node:worker_threads';
import { deliverNote, installHeartbeat } from './heartbeat.js';

installHeartbeat();

interface Job {
  type: 'job' | 'note';
  id: number;
  module: string;
  fn: string;
  args: unknown;
  note: unknown;
}

/**
 * The job modules imported so far, by URL. A module is imported once: with a loader registered
 * (tsx, for a TypeScript driver), every `import()` asks the loader's own thread to resolve its URL
 * again, a round trip per job that a campaign of per-epoch jobs made hundreds of times.
 */
const modules = new Map<string, Record<string, unknown>>();

const port = parentPort;
port?.on('message', async (m: Job) => {
  if (m.type === 'note') {
    deliverNote(m.note);
    return;
  }
  try {
    let mod = modules.get(m.module);
    if (mod === undefined) {
      mod = (await import(m.module)) as Record<string, unknown>;
      modules.set(m.module, mod);
    }
    const fn = mod[m.fn];
    if (typeof fn !== 'function') throw new Error(`watched job: ${m.module} has no function ${m.fn}`);
    const value: unknown = await (fn as (a: unknown) => unknown)(m.args);
    port.postMessage({ type: 'result', id: m.id, value });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ type: 'failed', id: m.id, name: err.name, message: err.message, stack: err.stack });
  }
});
