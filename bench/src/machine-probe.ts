/**
 * The machine's state, as three small loops time it: integer arithmetic, which stays in registers;
 * lookups in a `Map` of 4,096 keys and the `await` of an async function's promise, which go through
 * the caches and the allocator as the model does. A shared machine can run a process at two speeds
 * about twice apart, for minutes at a time, and only the loops that touch memory slow down (see
 * docs/performance.md, "the machine's two speeds"): the memory loops' time over the arithmetic's
 * tells which speed a run of the bench had, where absolute times cannot.
 */

/** What the probe measured: ns per iteration of each loop, and the lookups' time over the arithmetic's. */
export interface MachineProbe {
  readonly aluNs: number;
  readonly mapNs: number;
  readonly awaitNs: number;
  /** `mapNs / aluNs`: about the same from run to run on one machine in one state. */
  readonly memoryOverAlu: number;
}

const N = 4_000_000;

function alu(n: number): number {
  let h = 1;
  for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + i) | 0;
  return h;
}

const table = new Map<number, number>();
for (let i = 0; i < 4096; i++) table.set(i * 7, i);

function lookups(n: number): number {
  let h = 0;
  for (let i = 0; i < n; i++) h = (h + (table.get((i & 4095) * 7) as number)) | 0;
  return h;
}

async function value(x: number): Promise<number> {
  return x;
}

async function awaits(n: number): Promise<number> {
  let h = 0;
  for (let i = 0; i < n; i++) h = (h + (await value(i))) | 0;
  return h;
}

/** Median ns per iteration of `reps` timings of `n` iterations of `loop`. */
async function timed(loop: (n: number) => number | Promise<number>, n: number, reps: number): Promise<number> {
  const ns: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    sink = (sink + (await loop(n))) | 0;
    ns.push(((performance.now() - t) * 1e6) / n);
  }
  ns.sort((a, b) => a - b);
  return Number((ns[Math.floor(reps / 2)] as number).toFixed(2));
}

let sink = 0;

/**
 * Times each loop after a warm-up long enough for the optimizing compiler (medians of five
 * timings; about half a second in all).
 */
export async function machineProbe(): Promise<MachineProbe> {
  for (let i = 0; i < 30; i++) sink = (sink + alu(N / 100) + lookups(N / 100) + (await awaits(N / 1000))) | 0;
  const aluNs = await timed(alu, N / 5, 5);
  const mapNs = await timed(lookups, N / 5, 5);
  const awaitNs = await timed(awaits, N / 50, 5);
  return { aluNs, mapNs, awaitNs, memoryOverAlu: Number((mapNs / aluNs).toFixed(2)) };
}
