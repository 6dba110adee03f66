#!/usr/bin/env node
// The hmmlab command. It runs the built JavaScript of this package (dist/main.js). TypeScript is
// loaded only where it is needed: tsx registers in the worker threads that import a TypeScript
// driver module (src/internal/runtime.ts), in this process only when it runs from source.
//
// The packages the model is made of load from their bundles (lib/, scripts/bundle.js).
//
// From source: in a checkout, with the "@hmmlab/source" export condition
// (NODE_OPTIONS=--conditions=@hmmlab/source), "#main" resolves to src/main.ts and hmmlab's own
// packages to their sources; tsx then registers in this process before anything is imported.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `hmmlab --version` needs neither TypeScript nor the model: answer it here.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

const main = import.meta.resolve('#main');
if (main.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
} else if (!existsSync(fileURLToPath(main))) {
  // Only a checkout that was never built gets here: a published package ships dist.
  process.stderr.write(
    `hmmlab: ${fileURLToPath(main)} is missing: build the checkout (npx tsc -b) or run from source (NODE_OPTIONS=--conditions=@hmmlab/source)\n`,
  );
  process.exit(2);
} else {
  // In a checkout built with `tsc -b` (its dist has the build's record, which the published
  // package leaves out), hmmlab's packages load from their bundles (scripts/bundle.js):
  // bundle again those older than the build.
  const bundler = new URL('../../../scripts/bundle.js', import.meta.url);
  if (existsSync(new URL('../dist/.tsbuildinfo', import.meta.url)) && existsSync(bundler)) {
    try {
      await (await import(bundler.href)).bundle();
    } catch (e) {
      // A failure of the checkout's build, not of a driver: the exit status of an internal error.
      process.stderr.write(
        `hmmlab: bundling the checkout's packages (scripts/bundle.js) failed: ${e instanceof Error ? e.message : String(e)}\n`,
      );
      process.exit(3);
    }
  }
}
await import(main);
