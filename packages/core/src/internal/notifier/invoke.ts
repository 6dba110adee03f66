/**
 * How the core calls driver code: with the callback named on the task (for reports), in an
 * atomic context when the range is not blockable (the kernel's `non_block_start()`), with throws
 * turned into {@link DriverCallbackError}, and with the locks it left held reported.
 */
import { DriverCallbackError, type Scheduler } from '../sched/scheduler.js';

/** What {@link invokeDriver} learned besides the return value. */
export interface InvokeFacts {
  /** Names of locks the callback took and still held when it returned. */
  leaked: string[];
}

const NO_LEAKS: string[] = [];

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Calls `fn` as driver code named `context`. `atomic` marks a context where sleeping is not
 * allowed. `contendable` marks a callback whose failed trylock the kernel can take (see
 * `Scheduler.trylockContended`). Returns the callback's result and the locks it leaked.
 */
export async function invokeDriver<R>(
  sched: Scheduler,
  context: string,
  atomic: boolean,
  fn: () => R | Promise<R>,
  facts: InvokeFacts = { leaked: [] },
  contendable = false,
): Promise<R> {
  const t = sched.current;
  const mark = t.held.mark();
  t.contexts.push(context);
  t.contendable.push(contendable);
  t.contendedIn?.clear();
  if (atomic) t.atomicDepth++;
  let threw = false;
  try {
    const r = fn();
    const v = isThenable(r) ? await r : r;
    // Returned while its task is parked: the callback left a wait unawaited.
    if (sched.isRunning && sched.current !== t) {
      sched.notAwaited(t, `the return of ${context}`);
      // The code halts here. A promise of its own, not a shared one: a shared promise would keep
      // every halted run reachable through its list of reactions.
      await new Promise<never>(() => {});
    }
    return v;
  } catch (e) {
    threw = true;
    if (e instanceof DriverCallbackError) throw e;
    throw new DriverCallbackError(context, e);
  } finally {
    if (atomic) t.atomicDepth--;
    t.contexts.pop();
    t.contendable.pop();
    facts.leaked = t.held.mark() > mark ? t.held.takenSince(mark) : NO_LEAKS;
    // A callback that threw ends the run with its error (an oops in C): the locks the throw left
    // held are its consequence, and reporting them first would hide the cause. So are the locks
    // held by code that went on after the run ended (past a wait it did not await).
    if (!threw && facts.leaked.length > 0 && sched.trace.on && sched.isRunning)
      sched.trace.emit({ type: 'lock-leak', context, locks: facts.leaked });
  }
}
