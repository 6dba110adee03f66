// The module hooks of watchdog-counting-loader.test-fixture.mjs, in the loader's own thread.
let counts;

export function initialize(data) {
  counts = data.counts;
}

export async function resolve(specifier, context, next) {
  if (specifier.includes('watchdog-preload.test-fixture')) Atomics.add(counts, 0, 1);
  return next(specifier, context);
}
