// Module resolution hook of the bench's hmm-tests runner: inside test/hmm-tests, `vitest` is the
// bench's own small stand-in (vitest-shim.ts), so the port's cases run without a test runner.
const shim = new URL('./vitest-shim.ts', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'vitest' && context.parentURL?.includes('/test/hmm-tests/')) return { url: shim, shortCircuit: true };
  return next(specifier, context);
}
