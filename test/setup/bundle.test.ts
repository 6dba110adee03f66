/**
 * The bundles that hmmlab's processes load the model's packages from (scripts/bundle.js): what
 * the packages resolve to, which modules each bundle has, and when a checkout's bundles are made
 * again. Bundling is tried on a copy of the packages' build, never on this checkout's own `lib`,
 * which the `hmmlab` processes of other tests load meanwhile.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLED, bundle } from '../../scripts/bundle.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const NAMES = Object.keys(BUNDLED).sort();

/** What `@hmmlab/<name>` resolves to from the CLI's package, with Node's `flags`. */
function resolved(name: string, flags: string[]): string {
  const r = spawnSync(
    process.execPath,
    [...flags, '--input-type=module', '-e', `process.stdout.write(import.meta.resolve('@hmmlab/${name}'))`],
    {
      cwd: join(root, 'packages', 'cli'),
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  expect(r.stderr).toBe('');
  return r.stdout;
}

describe('the packages a hmmlab process loads', () => {
  it('should be the bundles, and the TypeScript sources with the source condition', () => {
    expect(NAMES).toEqual(['assertions', 'core', 'fuzz', 'harness']);
    for (const name of NAMES) {
      expect(resolved(name, [])).toBe(pathToFileURL(join(root, 'packages', name, 'lib', 'internal', 'index.js')).href);
      expect(resolved(name, ['--conditions=@hmmlab/source'])).toBe(pathToFileURL(join(root, 'packages', name, 'src', 'index.ts')).href);
    }
  });
});

/**
 * TypeScript files of a package's `src`, relative to it. Tests are in: a test's own jobs may load
 * one of the package's modules into a host from the build (fuzz's watchdog.test.ts, the heartbeat).
 */
function sources(dir: string, under = ''): string[] {
  return readdirSync(join(dir, under), { withFileTypes: true }).flatMap((e) => {
    const rel = under === '' ? e.name : `${under}/${e.name}`;
    if (e.isDirectory()) return sources(dir, rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

describe('the modules a package finds by URL', () => {
  it('should all be entry points of its bundle', () => {
    for (const name of NAMES) {
      const src = join(root, 'packages', name, 'src');
      const found = sources(src).flatMap((file) => {
        const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
        const text = readFileSync(join(src, file), 'utf8');
        // `new URL(… './worker.ts' : './worker.js', import.meta.url)`: the built module's path in dist.
        const byUrl = [...text.matchAll(/new URL\([^;]*?'\.\/([\w-]+\.js)'/g)].map((m) => `${dir}${m[1]}`);
        // `ownModule('jobs', …)` (fuzz's watchdog.ts): `./jobs.js` beside it, or the bundle's.
        const own = [...text.matchAll(/ownModule\('([\w-]+)'/g)].map((m) => `${dir}${m[1]}.js`);
        return [...byUrl, ...own];
      });
      expect([...new Set(found)].sort(), name).toEqual([...BUNDLED[name as keyof typeof BUNDLED]].sort());
    }
  });
});

describe('bundle', () => {
  const copy = mkdtempSync(join(tmpdir(), 'hmmlab-bundle-'));
  for (const name of NAMES) {
    cpSync(join(root, 'packages', name, 'package.json'), join(copy, 'packages', name, 'package.json'));
    cpSync(join(root, 'packages', name, 'dist'), join(copy, 'packages', name, 'dist'), { recursive: true });
  }
  afterAll(() => rmSync(copy, { recursive: true, force: true }));
  const info = (name: string) => join(copy, 'packages', name, 'dist', '.tsbuildinfo');
  const lib = (name: string) => join(copy, 'packages', name, 'lib');

  it('should bundle nothing where the build left no record, as in an installed package', async () => {
    const records = NAMES.map((n) => [info(n), `${info(n)}.kept`] as const);
    for (const [from, to] of records) cpSync(from, to);
    for (const [from] of records) rmSync(from);
    try {
      expect(await bundle({ root: copy })).toEqual([]);
      for (const name of NAMES) expect(existsSync(lib(name))).toBe(false);
    } finally {
      for (const [from, to] of records) {
        cpSync(to, from);
        rmSync(to);
      }
    }
  });

  it('should bundle each package after its build, with every module others find by URL at its path in dist', async () => {
    expect((await bundle({ root: copy })).sort()).toEqual(NAMES);
    for (const name of NAMES) {
      const files = readdirSync(join(lib(name), 'internal'));
      expect(files).toContain('index.js');
      for (const e of BUNDLED[name as keyof typeof BUNDLED]) expect(files).toContain(e.replace(/^internal\//, ''));
    }
    // Every chunk sits beside the entry points, two folders below the package as in dist.
    expect(readdirSync(lib('fuzz')).sort()).toEqual(['.bundled', 'internal']);
  });

  it('should bundle again only the packages built since', async () => {
    expect(await bundle({ root: copy })).toEqual([]);
    // A build of fuzz after its bundle: the bundle's stamp older than the build's record.
    const earlier = new Date(statSync(info('fuzz')).mtimeMs - 10_000);
    utimesSync(join(lib('fuzz'), '.bundled'), earlier, earlier);
    expect(await bundle({ root: copy })).toEqual(['fuzz']);
    expect(await bundle({ root: copy })).toEqual([]);
  });
});
