/**
 * The host process of a watched worker (watchdog.ts): its main thread runs the watched thread
 * (watched-thread.ts) and relays jobs, results and notes between it and the caller over IPC. V8
 * ends the whole process, not the thread, for some runaways of driver code (an array grown past
 * its length limit, an allocation larger than the heap limit in one step): running the thread in
 * a process of its own lets the caller outlive them. While the thread stops beating, the host
 * tells the caller where it is, so that an abort that follows still has its run and decisions.
 */

import { type WatchOptions, WorkerJobError, WorkerStallError } from './watchdog.js';
import { WatchedThread } from './watched-thread.js';

/** What the caller sends. */
type Request =
  | { type: 'init'; options: Omit<WatchOptions, 'onNote'>; tierUpMs: number | null }
  | { type: 'job'; id: number; module: string; fn: string; args: unknown }
  | { type: 'note'; note: unknown }
  | { type: 'stop' };

/** How often the host looks at the thread's heartbeat. */
const TICK_MS = 50;

const send = (m: unknown): void => {
  if (process.connected) process.send?.(m);
};

let thread: WatchedThread | null = null;
let ticker: NodeJS.Timeout | null = null;

/**
 * Tells the caller the run the thread is in when it changes, where the thread is when it stops
 * beating, and that it beats again if it does.
 */
function watchBeats(t: WatchedThread): void {
  let beat = t.beat;
  let run = -1;
  let stuck = false;
  ticker = setInterval(() => {
    if (!t.busy) return;
    const now = t.beat;
    if (now !== beat) {
      beat = now;
      if (stuck) send({ type: 'moving' });
      stuck = false;
      if (t.run !== run) {
        run = t.run;
        send({ type: 'run', run });
      }
      return;
    }
    if (stuck) return;
    stuck = true;
    send({ type: 'stuck', stall: t.stall('aborted', 0) });
  }, TICK_MS);
  ticker.unref();
}

function reply(id: number, e: unknown): void {
  if (e instanceof WorkerStallError) send({ type: 'stalled', id, stall: e.stall });
  else if (e instanceof WorkerJobError) send({ type: 'failed', id, name: e.errorName, message: e.message, stack: e.stack });
  else {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ type: 'failed', id, name: err.name, message: err.message, stack: err.stack });
  }
}

process.on('message', (m: Request) => {
  switch (m.type) {
    case 'init': {
      const t = new WatchedThread({ ...m.options, onNote: (note) => send({ type: 'note', note }) }, m.tierUpMs);
      thread = t;
      watchBeats(t);
      return;
    }
    case 'job':
      thread?.call(m.module, m.fn, m.args).then(
        (value) => send({ type: 'result', id: m.id, value }),
        (e: unknown) => reply(m.id, e),
      );
      return;
    case 'note':
      thread?.post(m.note);
      return;
    case 'stop':
      if (ticker !== null) clearInterval(ticker);
      void (thread?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
      return;
  }
});
// Ctrl-C reaches every process of the terminal's process group: the caller decides what an
// interruption means (it prints what was found so far, then stops this host).
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
// The caller went away: nothing is left to report to, and the thread ends with the process.
process.on('disconnect', () => process.exit(0));
