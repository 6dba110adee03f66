/**
 * Rules read straight from the kernel facts the core reports: `sleep-in-nonblockable`,
 * `false-while-blockable`, `start-failed-with-end`, `lock-leak`, and `livelock` for retry loops
 * that ran over their bound.
 */
import type { TraceEvent } from '@hmmlab/core';
import type { OracleContext } from '../context.js';

const LIVELOCK_WARNS = new Set(['retry-timeout', 'device-fault-livelock']);

/** Maps one kernel fact to a violation. */
export function checkKernelFact(ctx: OracleContext, ev: TraceEvent): void {
  switch (ev.type) {
    case 'sleep-in-atomic':
      ctx.report(
        {
          rule: 'sleep-in-nonblockable',
          explanation: `${ev.context} called ${ev.what}, which may sleep, in a non-blockable invalidation (the OOM reaper path): use a trylock and return false`,
          context: ev.context,
        },
        ev,
      );
      return;
    case 'lock-leak':
      ctx.report(
        {
          rule: 'lock-leak',
          explanation: `${ev.context} returned still holding ${ev.locks.join(', ')}: every later taker blocks forever`,
          context: ev.context,
          dedupKey: `lock-leak:${ev.context}`,
        },
        ev,
      );
      return;
    case 'warn':
      if (ev.what === 'false-while-blockable') {
        ctx.report(
          {
            rule: 'false-while-blockable',
            explanation: `${ev.detail}: the kernel WARNs and ignores it, so the device kept its translations`,
          },
          ev,
        );
      } else if (ev.what === 'start-failed-with-end') {
        ctx.report(
          {
            rule: 'start-failed-with-end',
            explanation: `${ev.detail}: after a failed start the kernel still calls invalidate_range_end of the others, and never this one's`,
          },
          ev,
        );
      } else if (LIVELOCK_WARNS.has(ev.what)) {
        ctx.report({ rule: 'livelock', explanation: ev.detail }, ev);
      }
      return;
    default:
      return;
  }
}
