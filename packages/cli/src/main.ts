/**
 * The hmmlab command line. Each command loads what it needs when it runs (the model, the fuzzer,
 * ts-morph for the static checks), so that `--help` and the usage errors stay fast.
 */
import { readFileSync } from 'node:fs';
import type { CommandResult } from '@hmmlab/analyze';
import { WINDOWS } from '@hmmlab/fuzz/windows';
import { Command, CommanderError } from 'commander';
import { DEFAULT_RUNS, defaultCorpus } from './internal/defaults.js';
import { prepareOutput } from './internal/output.js';
import { DEFAULT_HANG_TIMEOUT_S, DEFAULT_MAX_HEAP_MB, Interrupted } from './internal/signals.js';
import { UsageError } from './internal/usage.js';

// `hmmlab replay … | head` closes the pipe early: stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

/** Exit statuses (docs/guide/exit-codes.md). */
const EXIT_INTERNAL = 3;

/** A failure of hmmlab itself, not of the driver or the command line: exit 3 with the stack. */
function internalError(e: unknown): never {
  const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`hmmlab: internal error (a bug of hmmlab, please report it): ${text}\n`);
  process.exit(EXIT_INTERNAL);
}
process.on('uncaughtException', internalError);
process.on('unhandledRejection', internalError);

// SIGINT / SIGTERM: abandon the run in progress, print what was found so far, exit 130. A script
// runner (npm, pnpm) may pass on the signal the terminal already sent, so one keypress can arrive
// twice: signals within a second of the first are ignored; a later one exits at once.
const EXIT_INTERRUPTED = 130;
const interrupt = new AbortController();
let firstSignalAt = 0;
function onSignal(signal: string): void {
  if (!interrupt.signal.aborted) {
    firstSignalAt = performance.now();
    interrupt.abort(new Interrupted(signal));
  } else if (performance.now() - firstSignalAt > 1000) {
    if (process.stderr.isTTY) process.stderr.write('\x1b[?25h');
    process.exit(EXIT_INTERRUPTED);
  }
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

/** The exit status of a command that returned `code`: 130 if a signal interrupted it. */
function finalCode(code: number): number {
  return interrupt.signal.aborted ? EXIT_INTERRUPTED : code;
}

const HANG_HELP = `seconds driver code may keep the thread without returning control before it is stopped and reported as callback-hung (default ${DEFAULT_HANG_TIMEOUT_S})`;
const HEAP_HELP = `heap limit, in MB, of the worker thread that runs driver code (default ${DEFAULT_MAX_HEAP_MB})`;
const COMMANDS = new URL('./commands/', import.meta.url);
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

const EXIT_CODES_HELP = `
Exit status:
  0    no violation (or every known bug caught as its expected.json says); mutate: the score
  1    a violation was found (including callback-hung: driver code that spins or never settles);
       mutate: a score below --min-score
  2    bad usage, an unwritable output path, a driver that does not load (its module or probe throws)
       or that calls an API its run's --profile lacks
  3    replay, report: the replay diverged from its token; any command: internal error, a bug of hmmlab
  130  interrupted (SIGINT or SIGTERM): what was found so far is printed
`;

const program = new Command('hmmlab')
  .description('Test and fuzz the MMU notifier callbacks of Linux device drivers against a model of the kernel')
  .version((JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version)
  .addHelpText('after', EXIT_CODES_HELP)
  .exitOverride()
  .configureOutput({
    writeErr: (s) => process.stderr.write(s),
    // Usage errors are one line: commander's "(Did you mean --x?)" joins the message.
    outputError: (s, write) =>
      write(`${s.replace(/\n\((Did you mean [^)]*)\)/, (_m, hint: string) => `; ${hint.replace(/^D/, 'd')}`).trimEnd()}\n`),
  });

program
  .command('fuzz')
  .description('fuzz drivers against random workloads, migrations and interleavings')
  .argument('<drivers...>', 'driver.ts files, folders holding one, or folders of drivers (e.g. examples)')
  .option('--runs <n>', 'runs per driver', String(DEFAULT_RUNS))
  .option('--time <seconds>', 'stop after this long even if runs remain')
  .option('--seed <n>', 'campaign seed, 0 to 4294967295: the same seed gives the same counterexample', '1')
  .option('--strategy <name>', 'schedule strategy: pct, random or exhaustive', 'pct')
  .option('--profile <name>', 'kernel API profile (default: the profiles the driver declares)')
  .option('--workers <n>', 'watched workers the runs are split over (each a thread in a process of its own)', '1')
  .option('--jobs <n>', 'drivers fuzzed at once, each with its --workers (default: as many as the cores hold, at most 8)')
  .option('--require-window <names...>', `fail if a race window was never reached (${WINDOWS.join(', ')})`)
  .option('--corpus <dir>', "keep each driver's corpus in <dir>/<driver name>/ (default .hmmlab/corpus, or $HMMLAB_CORPUS)")
  .option('--no-corpus', 'neither read nor write a corpus')
  .option('--no-feedback', 'generate every run afresh, without steering toward unreached coverage')
  .option(
    '--shape <json|file>',
    'scenario shape fields over each driver\'s own, as a JSON object or a file holding one, e.g. \'{"regions":{"min":1,"max":1}}\'',
  )
  .option(
    '--shard <i/n>',
    'run only shard i of n (numbered from 1: run k when k mod n = i-1), without coverage feedback; hmmlab merge joins the shards',
  )
  .option(
    '--checkpoint <file>',
    'write a checkpoint after every 50 runs, and resume from this file when it holds the same campaign (one driver)',
  )
  .option('--json', 'print one JSON object instead of text')
  .option('--no-typecheck', 'do not type-check the driver modules first')
  .option('--html <file>', "write the counterexample's HTML timeline to this file")
  .option('--hang-timeout <seconds>', HANG_HELP)
  .option('--max-heap <mb>', HEAP_HELP)
  .option('--quiet', 'no progress on stderr (a bar on a terminal, else a line every 5 s; HMMLAB_PROGRESS_INTERVAL sets the seconds)')
  .action(async (drivers: string[], opts) => {
    // One option value holds both, and the last given would win without a word.
    const words = process.argv.slice(2);
    if (words.includes('--no-corpus') && words.some((w) => w === '--corpus' || w.startsWith('--corpus='))) {
      throw new UsageError('--corpus and --no-corpus: give one of them');
    }
    const { fuzzCommand } = await import('./commands/fuzz.js');
    process.exitCode = finalCode(await fuzzCommand(drivers, opts, interrupt.signal));
  });

program
  .command('merge')
  .description('join the --json results of hmmlab fuzz --shard 1/n … n/n into the result of the one campaign')
  .argument('<results...>', 'the JSON result files of every shard')
  .option('--json', 'print the merged JSON document instead of text')
  .option('--out <file>', 'also write the merged JSON document to this file')
  .action(async (files: string[], opts: { json?: boolean; out?: string }) => {
    const { mergeCommand } = await import('./commands/merge.js');
    process.exitCode = mergeCommand(files, opts);
  });

program
  .command('mutate')
  .description("mutation testing: fuzz each flush-contract bug written into the driver's files, report the ones no run catches")
  .argument('<driver>', 'the driver module (or its folder)')
  .option('--runs <n>', 'runs per mutant', String(DEFAULT_RUNS))
  .option('--seed <n>', 'campaign seed, 0 to 4294967295', '1')
  .option('--profile <name>', 'kernel API profile (default: the profiles the driver declares)')
  .option(
    '--workers <n>',
    'mutants fuzzed at once, each in its own watched worker (a thread in a process of its own) (default: as many as the cores, at most 8)',
  )
  .option('--operator <names...>', 'only these mutation operators')
  .option('--shape <json|file>', 'scenario shape fields for every campaign, as hmmlab fuzz --shape')
  .option('--tests', "also run the driver's driver.test.ts (vitest) on each mutant the fuzzer does not kill")
  .option('--min-score <percent>', 'exit 1 when the mutation score is below this')
  .option('--json', 'print one JSON object instead of text')
  .option('--hang-timeout <seconds>', HANG_HELP)
  .option('--max-heap <mb>', HEAP_HELP)
  .action(async (driver: string, opts) => {
    const { mutateCommand } = await import('./commands/mutate.js');
    process.exitCode = finalCode(await mutateCommand(driver, opts, interrupt.signal));
  });

program
  .command('replay')
  .description('rerun a counterexample exactly from its replay token and print the full report and trace')
  .argument('<driver>', 'the driver module (or its folder)')
  .argument('<token>', 'the replay token hmmlab printed')
  .option('--json', 'print JSON instead of text')
  .option('--hang-timeout <seconds>', HANG_HELP)
  .option('--max-heap <mb>', HEAP_HELP)
  .action(async (driver: string, token: string, opts: { json?: boolean; hangTimeout?: string; maxHeap?: string }) => {
    const job = { module: new URL(`replay.${ext}`, COMMANDS).href, fn: 'replayCommand', args: [driver, token, { json: opts.json }] };
    const { runWatchedCommand } = await import('./internal/runtime.js');
    process.exitCode = finalCode(await runWatchedCommand(job, token, opts, driver, interrupt.signal));
  });

program
  .command('report')
  .description('replay a counterexample and write its timeline as one self-contained HTML file')
  .argument('<driver>', 'the driver module (or its folder)')
  .argument('<token>', 'the replay token hmmlab printed')
  .requiredOption('--html <file>', 'where to write the HTML timeline')
  .option('--json', 'print JSON instead of text')
  .option('--hang-timeout <seconds>', HANG_HELP)
  .option('--max-heap <mb>', HEAP_HELP)
  .action(async (driver: string, token: string, opts: { html: string; json?: boolean; hangTimeout?: string; maxHeap?: string }) => {
    prepareOutput('--html', opts.html);
    const job = {
      module: new URL(`report.${ext}`, COMMANDS).href,
      fn: 'reportCommand',
      args: [driver, token, { html: opts.html, json: opts.json }],
    };
    const { runWatchedCommand } = await import('./internal/runtime.js');
    process.exitCode = finalCode(await runWatchedCommand(job, token, opts, driver, interrupt.signal));
  });

program
  .command('test')
  .description("run your repository's driver tests (vitest), or with --corpus replay every saved counterexample")
  .argument('[args...]', 'arguments passed to vitest run')
  .option(
    '--corpus [dir]',
    'instead of vitest, replay every counterexample hmmlab fuzz saved under [dir] (default .hmmlab/corpus, or $HMMLAB_CORPUS, as hmmlab fuzz keeps them); exit 1 if one still breaks a rule',
  )
  .option('--hang-timeout <seconds>', `--corpus: ${HANG_HELP}`)
  .option('--max-heap <mb>', `--corpus: ${HEAP_HELP}`)
  .allowUnknownOption()
  .action(async (args: string[], opts: { corpus?: string | true; hangTimeout?: string; maxHeap?: string }) => {
    if (opts.corpus !== undefined) {
      if ((args ?? []).length > 0)
        throw new UsageError(`test --corpus: unexpected arguments ${args.join(' ')}; run the vitest tests apart`);
      const dir = opts.corpus === true ? defaultCorpus() : opts.corpus;
      if (dir === null) throw new UsageError('test --corpus: $HMMLAB_CORPUS is off; name the corpus folder');
      const { testCorpusCommand } = await import('./commands/test-corpus.js');
      process.exitCode = finalCode(await testCorpusCommand(dir, opts, interrupt.signal));
      return;
    }
    const { testCommand } = await import('./commands/test.js');
    process.exitCode = testCommand(args ?? []);
  });

/** The static checks, codemods and templates (they load ts-morph). */
function analyze(): Promise<typeof import('@hmmlab/analyze')> {
  return import('@hmmlab/analyze');
}

/** The static commands on kernel C, which load the C parser and not ts-morph. */
function analyzeC(): Promise<typeof import('@hmmlab/analyze/c')> {
  return import('@hmmlab/analyze/c');
}

/**
 * The C commands when `paths` are C (`.c`/`.h`, folders of C), else null; a usage error when C and
 * TypeScript are mixed.
 */
async function cCommands(command: string, paths: readonly string[]): Promise<typeof import('@hmmlab/analyze/c') | null> {
  const c = await analyzeC();
  if (c.isCTarget(paths)) return c;
  if (paths.some((p) => /\.[ch]$/.test(p)))
    throw new UsageError(`${command}: C files and TypeScript drivers in one run; ${command} them apart`);
  return null;
}

/**
 * The usage error of a TypeScript command whose paths name no driver source (or codemod's
 * `profiles` no profile), found before ts-morph loads (the command's own words); undefined when
 * they are good.
 */
async function tsPathsUsage(
  command: string,
  paths: readonly string[],
  profiles?: { from: string; to: string },
): Promise<CommandResult | undefined> {
  return (await analyzeC()).driverPathsUsage(command, paths, profiles);
}

/** Prints what a static command returned; usage errors (exit 2) go to stderr, like the other commands'. */
function emit(r: CommandResult): void {
  (r.exitCode === 2 ? process.stderr : process.stdout).write(r.stdout);
  process.exitCode = r.exitCode;
}

program
  .command('lint')
  .description('check driver callbacks statically against the flush contract, TypeScript models or kernel C (exit 1 on an error finding)')
  .argument('<paths...>', 'driver files or folders (.ts, or .c/.h)')
  .option('--json', 'print { "findings": [...] }, with a "note" when no callback was found to check')
  .action(async (paths: string[], opts: { json?: boolean }) => {
    const c = await cCommands('lint', paths);
    emit(
      c !== null
        ? await c.lintCCommand({ paths, json: opts.json === true })
        : ((await tsPathsUsage('lint', paths)) ?? (await analyze()).lintCommand({ paths, json: opts.json === true })),
    );
  });

program
  .command('explain')
  .description('print the decision table of each invalidate callback: conditions, flushes, set_seq, return value')
  .argument('<paths...>', 'driver files or folders (.ts, or .c/.h)')
  .option('--json', 'print the tables as JSON')
  .action(async (paths: string[], opts: { json?: boolean }) => {
    const c = await cCommands('explain', paths);
    emit(
      c !== null
        ? await c.explainCCommand({ paths, json: opts.json === true })
        : ((await tsPathsUsage('explain', paths)) ?? (await analyze()).explainCommand({ paths, json: opts.json === true })),
    );
  });

program
  .command('codemod')
  .description('rewrite a TypeScript driver model from one kernel API profile to another (5.8, seed, 5.9, 5.14, 6.1, latest)')
  .argument('<paths...>', 'driver files or folders (.ts)')
  .requiredOption('--from <profile>', 'the profile the code is written for')
  .requiredOption('--to <profile>', 'the profile to rewrite it for')
  .option('--dry-run', 'print the diff and change nothing')
  .action(async (paths: string[], opts: { from: string; to: string; dryRun?: boolean }) => {
    const c = (await analyzeC()).isCTarget(paths) ? paths : paths.filter((p) => /\.[ch]$/.test(p));
    if (c.length > 0)
      throw new UsageError(
        `codemod: ${c.join(' ')}: kernel C; codemod rewrites TypeScript driver models between profiles (lint and explain read C, init --from writes a model of it)`,
      );
    emit(
      (await tsPathsUsage('codemod', paths, { from: opts.from, to: opts.to })) ??
        (await analyze()).codemodCommand({ paths, from: opts.from, to: opts.to, dryRun: opts.dryRun === true }),
    );
  });

program
  .command('init')
  .description(
    'scaffold a driver package from an example (--template) or a kernel C driver (--from), or write CI workflows that fuzz in shards (--ci)',
  )
  .argument('[dir]', 'the folder to create (--template), or the repository root (--ci, default .)')
  .option('--template <name>', 'dmirror, nouveau, amdkfd, xe or odp')
  .option('--from <file.c>', 'write a driver skeleton mirroring the notifier callbacks of a kernel C driver')
  .option('--ci', 'write a GitHub Actions workflow (shards as a matrix, a merge job) and a Kubernetes Indexed Job')
  .option('--shards <n>', '--ci: shards of the campaign', '4')
  .option('--runs <n>', '--ci: runs of the whole campaign', '20000')
  .option('--drivers <path>', '--ci: the driver files or folders to fuzz, relative to the repository root', '.')
  .action(
    async (
      dir: string | undefined,
      opts: { template?: string; from?: string; ci?: boolean; shards: string; runs: string; drivers: string },
    ) => {
      if (opts.from !== undefined) {
        emit(await (await analyzeC()).initFromCCommand({ ...(dir !== undefined ? { dir } : {}), from: opts.from }));
        return;
      }
      if (opts.template !== undefined || opts.ci !== true) {
        emit(
          (await analyzeC()).initCommand({
            ...(dir !== undefined ? { dir } : {}),
            ...(opts.template !== undefined ? { template: opts.template } : {}),
          }),
        );
        if (process.exitCode !== 0 || opts.ci !== true) return;
      }
      const { initCiCommand } = await import('./commands/init-ci.js');
      process.exitCode = initCiCommand(dir ?? '.', opts);
    },
  );

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander already printed the message (unknown option, missing argument, help, version).
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof Interrupted) {
    process.exitCode = EXIT_INTERRUPTED;
  } else if (e instanceof UsageError) {
    process.stderr.write(`hmmlab: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    internalError(e);
  }
}
