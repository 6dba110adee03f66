import { availableParallelism } from 'node:os';

/**
 * Usage errors: the command line or its inputs are wrong. The CLI prints the one-line message and
 * exits with status 2.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The integer value of option `--name` (undefined if not given), at least `min` and at most `max`. */
export function intOption(name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  // Decimal digits only: Number() also reads 1e3, 0x10 and ' 7 ', which are not what was asked.
  const n = /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} ${v}: expected an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`}`);
  return n;
}

/**
 * A warning on stderr when `--workers` asks for more workers than the machine has cores: each is a
 * process of its own, and beyond the cores they share them, so the campaign only gets slower.
 */
export function warnOverCores(workers: number, cores = availableParallelism()): void {
  if (workers > cores) {
    process.stderr.write(
      `hmmlab: warning: --workers ${workers} on a machine with ${cores} core(s): workers beyond the cores share them, which makes the campaign slower, not faster\n`,
    );
  }
}
