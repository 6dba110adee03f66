// Command functions for runtime.test.ts, run in a watched worker by `commandJob`.

/** Prints the process the worker runs in. */
export async function pid() {
  process.stdout.write(String(process.pid));
  return 0;
}

/** Throws, as a command that fails in hmmlab does. */
export async function fails() {
  throw new Error('this command fails');
}
