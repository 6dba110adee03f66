/**
 * How tasks are represented: one step handed between tasks as an async function awaiting a
 * promise the scheduler resolves (what hmmlab uses, so callbacks are plain async code), against a
 * generator stepped by a loop and a synchronous state machine. Same schedule: three tasks, round
 * robin.
 */

const TASKS = 3;

/** Async handoff: `steps` steps per task; returns steps/ms. */
export async function asyncHandoff(steps: number): Promise<number> {
  const resolvers: ((() => void) | null)[] = new Array(TASKS).fill(null);
  let cur = -1;
  let alive = TASKS;
  let total = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => {
    finish = r;
  });
  const pick = (): void => {
    for (let k = 1; k <= TASKS; k++) {
      const j = (cur + k) % TASKS;
      const r = resolvers[j];
      if (r) {
        cur = j;
        resolvers[j] = null;
        r();
        return;
      }
    }
  };
  const park = (i: number): Promise<void> =>
    new Promise<void>((r) => {
      resolvers[i] = r;
      total++;
      pick();
    });
  const task = async (i: number): Promise<void> => {
    await new Promise<void>((r) => {
      resolvers[i] = r;
    });
    for (let s = 0; s < steps; s++) await park(i);
    alive--;
    if (alive === 0) finish();
    else pick();
  };
  const t = performance.now();
  for (let i = 0; i < TASKS; i++) void task(i);
  pick();
  await done;
  return total / (performance.now() - t);
}

function* gen(steps: number): Generator<number> {
  for (let s = 0; s < steps; s++) yield s;
}

/** Generator stepping; returns steps/ms. */
export function generatorHandoff(steps: number): number {
  const ts = Array.from({ length: TASKS }, () => gen(steps));
  const dead = new Array<boolean>(TASKS).fill(false);
  let live = TASKS;
  let total = 0;
  let cur = 0;
  const t = performance.now();
  while (live > 0) {
    cur = (cur + 1) % TASKS;
    if (dead[cur]) continue;
    if ((ts[cur] as Generator<number>).next().done) {
      dead[cur] = true;
      live--;
    } else {
      total++;
    }
  }
  return total / (performance.now() - t);
}

/** Synchronous state machines; returns steps/ms. */
export function syncHandoff(steps: number): number {
  const pcs = new Array<number>(TASKS).fill(0);
  let live = TASKS;
  let total = 0;
  let cur = 0;
  const t = performance.now();
  while (live > 0) {
    cur = (cur + 1) % TASKS;
    const pc = pcs[cur] as number;
    if (pc < 0) continue;
    if (pc >= steps) {
      pcs[cur] = -1;
      live--;
    } else {
      pcs[cur] = pc + 1;
      total++;
    }
  }
  return total / (performance.now() - t);
}
