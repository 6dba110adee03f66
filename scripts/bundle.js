/**
 * Bundles the built JavaScript of the packages whose modules every `hmmlab` process and every
 * campaign's worker thread loads (core, harness, assertions, fuzz): each package's `dist` becomes
 * a few modules in `lib` (its entry points, and chunks of the code they share), which its
 * package.json exports. Node.js 20 loads about two hundred small modules more slowly than the same
 * code in a few: 0.38 s of CPU against 0.21 s to import @hmmlab/fuzz and @hmmlab/harness in a
 * fresh process (docs/performance.md, "hmmlab's packages as a few modules each").
 *
 * What the bundles keep of the modules they are made of:
 * - one instance of each module: a package's entry points share its chunks, and every other
 *   package, hmmlab's own or not, stays an import (`packages: 'external'`);
 * - the places modules find each other by `new URL('./x.js', import.meta.url)`: those modules
 *   are entry points of their own, beside the chunks (`entries` below);
 * - every import made for its side effects, though the packages say they have none
 *   (`ignoreAnnotations`: harness's device module imports its events module for that alone);
 * - the TypeScript lines a stack maps to (source maps through tsc's own).
 *
 * A function whose name collides with another module's is renamed in the bundle (`check2`):
 * nothing of hmmlab reads its own functions' names, and the stack's lines still map to the source.
 *
 * `bundle()` bundles the packages whose `lib` is older than their last `tsc -b`; bin/hmmlab.js
 * calls it in a checkout, so that a command never runs older code than the build. `pnpm build`
 * is both steps.
 * JavaScript, not TypeScript: Vitest's global setup and bin/hmmlab.js run it without a loader.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The bundled packages, and the modules of each that others load by URL rather than by import. */
export const BUNDLED = {
  core: [],
  harness: [],
  assertions: [],
  fuzz: ['internal/worker.js', 'internal/host.js', 'internal/jobs.js', 'internal/heartbeat.js'],
};

/** Written into `lib` when a bundle is complete: its time is the bundle's. */
const STAMP = '.bundled';

/**
 * The modules a package exports from `lib`, and those of `BUNDLED`, as esbuild entry points:
 * every one of them, and every chunk, goes to `lib/internal/`, two folders below the package as
 * the modules are in `src/internal/` and `dist/internal/`. Code that finds a module of its
 * package by a path relative to its own (`new URL('./host.js', import.meta.url)`, the package's
 * folder as `../..`) then finds it in all three.
 */
function entries(dir, byUrl) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const out = new Map(byUrl.map((e) => [join(dir, 'dist', e), e]));
  for (const target of Object.values(pkg.exports)) {
    const file = typeof target === 'string' ? target : target.default;
    const m = typeof file === 'string' ? /^\.\/lib\/internal\/(.+)\.js$/.exec(file) : null;
    if (m === null) continue;
    // `index`, `vitest`, `windows`: modules at the top of dist.
    out.set(join(dir, 'dist', `${m[1]}.js`), `internal/${m[1]}.js`);
  }
  return [...out].map(([input, output]) => ({ in: input, out: output.replace(/\.js$/, '') }));
}

/**
 * Whether `tsc -b` built `packages/<name>` after its `lib` was bundled (or it has none). Only a
 * checkout has the build's record (`dist/.tsbuildinfo`; the published packages leave it out).
 */
function isStale(root, name) {
  const dir = join(root, 'packages', name);
  const info = join(dir, 'dist', '.tsbuildinfo');
  const stamp = join(dir, 'lib', STAMP);
  if (!existsSync(info)) return false;
  return !existsSync(stamp) || statSync(info).mtimeMs > statSync(stamp).mtimeMs;
}

/**
 * Bundles every package of `BUNDLED` whose `lib` is stale (all of them with `force`), in the
 * checkout at `root` (this one by default), and returns their names.
 */
export async function bundle({ force = false, root = ROOT } = {}) {
  const stale = Object.keys(BUNDLED).filter((name) => force || isStale(root, name));
  if (stale.length === 0) return stale;
  const esbuild = await import('esbuild');
  for (const name of stale) {
    const byUrl = BUNDLED[name];
    const dir = join(root, 'packages', name);
    const lib = join(dir, 'lib');
    // Made beside it and then swapped in, so that another process never imports half a bundle.
    const made = `${lib}.${process.pid}`;
    rmSync(made, { recursive: true, force: true });
    await esbuild.build({
      absWorkingDir: dir,
      entryPoints: entries(dir, byUrl),
      outdir: made,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      chunkNames: 'internal/chunk-[hash]',
      ignoreAnnotations: true,
      sourcemap: true,
      logLevel: 'warning',
    });
    writeFileSync(join(made, STAMP), '');
    const old = `${lib}.old.${process.pid}`;
    if (existsSync(lib)) renameSync(lib, old);
    renameSync(made, lib);
    rmSync(old, { recursive: true, force: true });
  }
  return stale;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle({ force: process.argv.includes('--force') });
