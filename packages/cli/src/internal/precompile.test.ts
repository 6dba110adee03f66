import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { precompile } from './precompile.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project folder with `files` (path → text) and a package.json saying `type`. */
function project(files: Record<string, string>, type: string | null = 'module'): string {
  const dir = mkdtempSync(join(tmpdir(), 'hmmlab-precompile-test-'));
  dirs.push(dir);
  if (type !== null) writeFileSync(join(dir, 'package.json'), JSON.stringify({ type }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const DRIVER = "import { helper } from './lib/helper.js';\nexport default { name: 'd', probe: () => helper(1) };\n";
const HELPER = 'export function helper(n: number): number {\n  return n + 1;\n}\n';

describe('precompile', () => {
  it("should compile a driver and the modules it imports, each under its own URL, and lead TypeScript's .js imports to them", async () => {
    const dir = project({ 'driver.ts': DRIVER, 'lib/helper.ts': HELPER });
    const c = await precompile([join(dir, 'driver.ts')]);
    const driver = pathToFileURL(join(dir, 'driver.ts')).href;
    const helper = pathToFileURL(join(dir, 'lib/helper.ts')).href;
    expect(Object.keys(c?.modules ?? {}).sort()).toEqual([driver, helper].sort());
    expect(c?.resolved).toEqual({ [`${driver}\n./lib/helper.js`]: helper });
    const js = readFileSync(c?.modules[helper] as string, 'utf8');
    expect(js).toContain('function helper(n){return n+1}');
    // The source map names the TypeScript file: stack traces give it.
    const map = JSON.parse(Buffer.from(/sourceMappingURL=data:application\/json;base64,(\S+)/.exec(js)?.[1] ?? '', 'base64').toString());
    expect(map.sources).toEqual([realpathSync(join(dir, 'lib/helper.ts'))]);
  });

  it('should compile again once a module it read changed, and not before', async () => {
    const dir = project({ 'driver.ts': DRIVER, 'lib/helper.ts': HELPER });
    const helper = pathToFileURL(join(dir, 'lib/helper.ts')).href;
    const first = await precompile([join(dir, 'driver.ts')]);
    expect(await precompile([join(dir, 'driver.ts')])).toEqual(first);
    writeFileSync(join(dir, 'lib/helper.ts'), HELPER.replace('n + 1', 'n + 2'));
    // A modification time of its own, whatever the file system's resolution.
    utimesSync(join(dir, 'lib/helper.ts'), new Date(), new Date(Date.now() + 5000));
    const second = await precompile([join(dir, 'driver.ts')]);
    expect(readFileSync(second?.modules[helper] as string, 'utf8')).toContain('n+2');
  });

  it('should compile again once a compiled module was removed (a cleaned temporary folder)', async () => {
    const dir = project({ 'driver.ts': DRIVER, 'lib/helper.ts': HELPER });
    const helper = pathToFileURL(join(dir, 'lib/helper.ts')).href;
    const first = await precompile([join(dir, 'driver.ts')]);
    rmSync(first?.modules[helper] as string);
    const second = await precompile([join(dir, 'driver.ts')]);
    expect(readFileSync(second?.modules[helper] as string, 'utf8')).toContain('function helper(n){return n+1}');
  });

  it.each([
    ['a package without "type": "module" (Node.js loads its .ts as CommonJS)', { 'driver.ts': DRIVER, 'lib/helper.ts': HELPER }, null],
    ['a syntax error', { 'driver.ts': 'export default {\n  probe(kernel) { return kernel. ; },\n};\n' }, 'module'],
    ['an import that leads nowhere', { 'driver.ts': "import { x } from './missing.js';\nexport default x;\n" }, 'module'],
    ['a JSON module of its own', { 'driver.ts': "import d from './d.json';\nexport default d;\n", 'd.json': '{}' }, 'module'],
    [
      'an import of a computed name',
      { 'driver.ts': "const n = './lib/helper.js';\nexport default await import(n);\n", 'lib/helper.ts': HELPER },
      'module',
    ],
  ] as const)('should leave a driver with %s to tsx', async (_what, files, type) => {
    const dir = project(files, type);
    expect(await precompile([join(dir, 'driver.ts')])).toBeNull();
  });

  it('should compile a driver whose import() names its module literally (the twin of the computed name)', async () => {
    const dir = project({ 'driver.ts': "export default await import('./lib/helper.js');\n", 'lib/helper.ts': HELPER });
    expect(Object.keys((await precompile([join(dir, 'driver.ts')]))?.modules ?? {})).toHaveLength(2);
  });

  describe('with the tsconfig tsx takes (TSX_TSCONFIG_PATH names it here)', () => {
    const DECORATED = 'function d(..._a: unknown[]) {}\n@d\nclass A {}\nexport default { name: String(A), probe() {} };\n';
    afterEach(() => {
      delete process.env.TSX_TSCONFIG_PATH;
    });

    it.each([
      ['that includes the driver', ['driver.ts'], '__decorateClass'],
      ['that does not', ['other.ts'], '__decorateElement'],
    ])('should compile as tsx does with a tsconfig %s', async (_what, include, helper) => {
      const dir = project({
        'driver.ts': DECORATED,
        'tsconfig.json': JSON.stringify({ include, compilerOptions: { experimentalDecorators: true } }),
      });
      process.env.TSX_TSCONFIG_PATH = join(dir, 'tsconfig.json');
      const c = await precompile([join(dir, 'driver.ts')]);
      expect(readFileSync(c?.modules[pathToFileURL(join(dir, 'driver.ts')).href] as string, 'utf8')).toContain(helper);
    });

    it.each([
      ['includes some of its modules and not others', { include: ['driver.ts'] }],
      ['has paths aliases', { compilerOptions: { paths: { '#lib/*': ['./lib/*'] } } }],
      ['extends another (which a change of would go unseen)', { extends: './base.json' }],
    ])('should leave to tsx a driver whose tsconfig %s', async (_what, tsconfig) => {
      const dir = project({ 'driver.ts': DRIVER, 'lib/helper.ts': HELPER, 'tsconfig.json': JSON.stringify(tsconfig), 'base.json': '{}' });
      process.env.TSX_TSCONFIG_PATH = join(dir, 'tsconfig.json');
      expect(await precompile([join(dir, 'driver.ts')])).toBeNull();
    });
  });
});
