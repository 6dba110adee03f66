/**
 * `fault-stuck`: a device access that the driver failed with "try again" (`-EBUSY`, `-EAGAIN`)
 * while the programs ran is made again once every program is done and the driver's own work had
 * time to finish (the runner's retry at rest, a `dev-retry` event pair). A fault handler that says
 * "try again" then, with nothing left running that it could be waiting for, says it for ever: the
 * device can never reach memory the process can. What it waits on was left set: an invalidation
 * count a start raised and no end lowered, a busy or invalid flag no path clears, a state only an
 * error path forgets to undo. A retry that the device itself gave up on (a handler that answered
 * "replay" without mapping, which the kernel warns of) or that failed otherwise is not this rule's.
 */
import { EAGAIN, EBUSY, errnoName, hex, type TraceEvent } from '@hmmlab/core';
import type { OracleContext } from '../context.js';

type DevRetry = Extract<TraceEvent, { type: 'dev-retry' }>;
type DevFault = Extract<TraceEvent, { type: 'dev-fault' }>;

/** True for the errnos that tell the device to try again. */
function tryAgain(errno: number): boolean {
  return errno === -EBUSY || errno === -EAGAIN;
}

/** Follows each retry at rest and the fault handler's answers during it. */
export class StuckFaults {
  private retry: DevRetry | null = null;
  /** The last result of the device's fault handler during the retry; null while it has none. */
  private handler: number | null = null;

  onFault(e: DevFault): void {
    const r = this.retry;
    if (r !== null && e.phase === 'end' && !e.fatal && e.dev === r.dev && e.vm === r.vm) this.handler = e.result;
  }

  onRetry(ctx: OracleContext, e: DevRetry): void {
    if (e.phase === 'begin') {
      this.retry = e;
      this.handler = null;
      return;
    }
    const r = this.retry;
    this.retry = null;
    if (r === null || !tryAgain(e.result) || this.handler !== e.result) return;
    const device = ctx.world.devices.find((d) => d.name === e.dev) ?? null;
    const vm = device?.vms.find((v) => v.id === e.vm);
    ctx.report(
      {
        rule: 'fault-stuck',
        explanation: `${e.dev} vm ${e.vm}: a device ${e.kind} at ${hex(e.va)} failed with ${errnoName(e.errno)} at step ${e.failedAt}; made again once every program was done and the driver had had the model time of HMM_RANGE_DEFAULT_TIMEOUT to finish its own work, its fault handler failed it again with ${errnoName(e.result)}. Nothing was left running that it could wait for, so it says "try again" for ever: the device can never reach this memory, though the process can. Something the fault path waits on was left set: an invalidation count that a start raised and no end lowered, a busy or invalid flag that no path clears, a state that an early return or error path did not undo`,
        mm: vm?.mm.id ?? null,
        va: e.va,
        device,
        dedupKey: `fault-stuck:${e.dev}:${e.vm}`,
      },
      e,
    );
  }
}
