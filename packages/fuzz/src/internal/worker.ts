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

const port = parentPort;
port?.on('message', async (m: Job) => {
  if (m.type === 'note') {
    deliverNote(m.note);
    return;
  }
  try {
    const mod = (await import(m.module)) as Record<string, unknown>;
    const fn = mod[m.fn];
    if (typeof fn !== 'function') throw new Error(`watched job: ${m.module} has no function ${m.fn}`);
    const value: unknown = await (fn as (a: unknown) => unknown)(m.args);
    port.postMessage({ type: 'result', id: m.id, value });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ type: 'failed', id: m.id, name: err.name, message: err.message, stack: err.stack });
  }
});
