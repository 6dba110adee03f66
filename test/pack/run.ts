/**
 * The packed-tarball test: hmmlab as a driver author installs it. Packs every package of the
 * workspace (pnpm pack, which writes real versions for `workspace:` ranges), installs the tarballs
 * with npm into an empty folder outside the workspace, and runs there, on a small TypeScript
 * driver and its twin without the TLB flush: `hmmlab fuzz`, a `fuzzDriver` vitest test and
 * `hmmlab lint` (also on a small C driver and its twin, which loads the C parser's WebAssembly). The correct driver must pass each of them and the twin must fail each of them;
 * the correct driver must also pass `hmmlab fuzz` as JavaScript.
 *
 * `pnpm test:pack` (after `npx tsc -b`); `.ci/run` runs it after the tests. npm takes the
 * packages it has cached without asking the registry (--prefer-offline). Exit 1 on a failure.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const keep = process.argv.includes('--keep');
const PACKAGES = ['core', 'harness', 'assertions', 'fuzz', 'analyze', 'cli'];

// The children run as in a driver author's shell: no source condition, no workspace settings.
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
delete env.NODE_OPTIONS;
for (const k of Object.keys(env)) if (k.startsWith('npm_') || k.startsWith('PNPM_')) delete env[k];
env.npm_config_prefer_offline = 'true';

const started = performance.now();
const failures: string[] = [];
const seconds = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/** Runs `cmd args` in `cwd`; prints its name, status and time. */
function run(cmd: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 1 << 26 });
  process.stdout.write(`  ${[cmd, ...args].join(' ').slice(0, 110)}: exit ${r.status ?? r.signal} (${seconds(t0)})\n`);
  return r;
}

/** Records a failure unless `ok`, with what the command printed. */
function expectThat(ok: boolean, what: string, r?: SpawnSyncReturns<string>): void {
  if (ok) return;
  failures.push(what);
  process.stdout.write(`  FAIL: ${what}\n`);
  if (r !== undefined) process.stdout.write(`${r.stdout}\n${r.stderr}\n`.replace(/^/gm, '    | '));
}

const work = mkdtempSync(join(tmpdir(), 'hmmlab-pack-'));
const tarballs = join(work, 'tarballs');
const project = join(work, 'my-driver');
mkdirSync(tarballs);
mkdirSync(project);

process.stdout.write(`packed-tarball test in ${work}\n`);
for (const p of PACKAGES) {
  if (!existsSync(join(root, 'packages', p, 'dist', 'index.js'))) {
    process.stderr.write(`test:pack: packages/${p}/dist is missing; build first (npx tsc -b)\n`);
    process.exit(2);
  }
}

// 1. Pack each package.
const pack = run('npx', ['-y', 'pnpm@12.4.2', '-r', '--filter', './packages/*', 'pack', '--pack-destination', tarballs], root);
expectThat(pack.status === 0, 'pnpm pack', pack);
const files = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'));
expectThat(files.length === PACKAGES.length, `one tarball per package (${files.join(', ')})`);
for (const f of files) {
  const list = spawnSync('tar', ['tzf', join(tarballs, f)], { encoding: 'utf8' }).stdout.split('\n');
  const stray = list.filter((l) => /\.test\.ts$|\/fixtures\/|\.tsbuildinfo$|\.test-fixture\./.test(l));
  expectThat(stray.length === 0, `${f} ships no tests, fixtures or .tsbuildinfo (found ${stray.slice(0, 3).join(', ')})`);
}

// 2. Install them with npm, as the guide says, into an empty project.
writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'my-driver', private: true, type: 'module' }, null, 2)}\n`);
writeFileSync(
  join(project, 'tsconfig.json'),
  `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2023',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
      include: ['*.ts'],
    },
    null,
    2,
  )}\n`,
);
const install = run(
  'npm',
  [
    'install',
    '--save-dev',
    '--prefer-offline',
    '--no-audit',
    '--no-fund',
    ...files.map((f) => join(tarballs, f)),
    'vitest@4.1.12',
    'typescript@5.9.3',
    '@types/node@20',
  ],
  project,
);
expectThat(install.status === 0, 'npm install of the tarballs', install);

// 3. A driver and its twin without the TLB flush; a fuzzDriver test of each.
const driver = readFileSync(join(root, 'test/pack/fixtures/driver.ts'), 'utf8');
const FLUSH = /^\s*vm\.flushTlb\(range\.start, range\.end\);\n/m;
expectThat(FLUSH.test(driver), 'the driver flushes its TLB in one line the twin can drop');
writeFileSync(join(project, 'driver.ts'), driver);
writeFileSync(join(project, 'no-flush.ts'), driver.replace(FLUSH, ''));
const fuzzTest = (module: string): string =>
  `import { fuzzDriver } from '@hmmlab/fuzz/vitest';\nimport driver from './${module}.js';\n\nfuzzDriver(driver, { runs: 100 });\n`;
writeFileSync(join(project, 'driver.test.ts'), fuzzTest('driver'));
writeFileSync(join(project, 'no-flush.test.ts'), fuzzTest('no-flush'));

const hmmlab = join(project, 'node_modules', '.bin', 'hmmlab');
if (install.status === 0) {
  const version = run(hmmlab, ['--version'], project);
  expectThat(version.status === 0 && version.stdout.trim() === '0.1.0', 'hmmlab --version prints the version', version);

  const good = run(hmmlab, ['fuzz', 'driver.ts', '--runs', '100', '--no-corpus'], project);
  expectThat(good.status === 0 && /verdict +pass/.test(good.stdout), 'hmmlab fuzz driver.ts passes', good);
  const bad = run(hmmlab, ['fuzz', 'no-flush.ts', '--runs', '100', '--no-corpus'], project);
  expectThat(
    bad.status === 1 && /missed-flush/.test(bad.stdout) && /replay: hmmlab replay no-flush\.ts hmmlab\d_/.test(bad.stdout),
    'hmmlab fuzz no-flush.ts reports missed-flush with a replay command',
    bad,
  );

  // The same driver as JavaScript (the project's TypeScript strips its types): no type check, no tsx.
  const js = run(
    process.execPath,
    [
      '-e',
      "const ts = require('typescript'); const fs = require('node:fs'); fs.writeFileSync('driver.js', ts.transpileModule(fs.readFileSync('driver.ts', 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023 } }).outputText);",
    ],
    project,
  );
  expectThat(js.status === 0, 'transpile driver.ts to driver.js', js);
  const goodJs = run(hmmlab, ['fuzz', 'driver.js', '--runs', '100', '--no-corpus'], project);
  expectThat(goodJs.status === 0 && /verdict +pass/.test(goodJs.stdout), 'hmmlab fuzz driver.js passes', goodJs);

  const vitest = join(project, 'node_modules', '.bin', 'vitest');
  const goodTest = run(vitest, ['run', 'driver.test.ts'], project);
  expectThat(goodTest.status === 0, 'the fuzzDriver test of driver.ts passes', goodTest);
  const badTest = run(vitest, ['run', 'no-flush.test.ts'], project);
  expectThat(
    badTest.status === 1 &&
      /missed-flush/.test(badTest.stdout + badTest.stderr) &&
      /hmmlab replay no-flush\.ts /.test(badTest.stdout + badTest.stderr),
    'the fuzzDriver test of no-flush.ts fails with missed-flush and its replay command',
    badTest,
  );

  const lint = run(hmmlab, ['lint', 'driver.ts'], project);
  expectThat(lint.status === 0, 'hmmlab lint driver.ts has no error finding', lint);
  const lintBad = run(hmmlab, ['lint', 'no-flush.ts'], project);
  expectThat(lintBad.status === 1 && /no-flush\.ts:\d+/.test(lintBad.stdout), 'hmmlab lint no-flush.ts reports the missing flush', lintBad);

  // Kernel C: the parser's WebAssembly must load from the installed packages.
  const cDriver = [
    'static bool fx_invalidate(struct mmu_interval_notifier *mni, const struct mmu_notifier_range *range, unsigned long cur_seq)',
    '{',
    '\tstruct fx *fx = container_of(mni, struct fx, notifier);',
    '',
    '\tif (!mmu_notifier_range_blockable(range))',
    '\t\treturn false;',
    '\tmutex_lock(&fx->lock);',
    '\tmmu_interval_set_seq(mni, cur_seq);',
    '\tfx_zap_range(fx, range->start, range->end);',
    '\tfx_flush_tlb(fx, range->start, range->end);',
    '\tmutex_unlock(&fx->lock);',
    '\treturn true;',
    '}',
    '',
    'static const struct mmu_interval_notifier_ops fx_ops = { .invalidate = fx_invalidate };',
    '',
  ].join('\n');
  writeFileSync(join(project, 'fx.c'), cDriver);
  writeFileSync(join(project, 'fx-no-flush.c'), cDriver.replace('\tfx_flush_tlb(fx, range->start, range->end);\n', ''));
  const lintC = run(hmmlab, ['lint', 'fx.c'], project);
  expectThat(lintC.status === 0 && /no findings/.test(lintC.stdout), 'hmmlab lint fx.c has no finding', lintC);
  const lintCBad = run(hmmlab, ['lint', 'fx-no-flush.c'], project);
  expectThat(
    lintCBad.status === 1 && /fx-no-flush\.c:9 +error +clear-without-flush/.test(lintCBad.stdout),
    'hmmlab lint fx-no-flush.c reports the missing flush',
    lintCBad,
  );
}

if (keep || failures.length > 0) process.stdout.write(`kept ${work}\n`);
else rmSync(work, { recursive: true, force: true });
process.stdout.write(
  failures.length === 0
    ? `packed-tarball test passed (${seconds(started)})\n`
    : `packed-tarball test: ${failures.length} failure(s) (${seconds(started)}): ${failures.join('; ')}\n`,
);
process.exit(failures.length === 0 ? 0 : 1);
