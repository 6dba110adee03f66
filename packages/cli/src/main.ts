/**
 * The hmmlab command line.
 */
import { type CommandResult, codemodCommand, explainCommand, initCommand, lintCommand } from '@hmmlab/analyze';
import { WINDOWS } from '@hmmlab/fuzz';
import { Command, CommanderError } from 'commander';
import { fuzzCommand } from './commands/fuzz.js';
import { replayCommand } from './commands/replay.js';
import { reportCommand } from './commands/report.js';
import { testCommand } from './commands/test.js';
import { UsageError } from './internal/usage.js';

// `hmmlab replay … | head` closes the pipe early: stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

const program = new Command('hmmlab')
  .description('Test and fuzz the MMU notifier callbacks of Linux device drivers against a model of the kernel')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('fuzz')
  .description('fuzz drivers against random workloads, migrations and interleavings')
  .argument('<drivers...>', 'driver.ts files, folders holding one, or folders of drivers (e.g. examples)')
  .option('--runs <n>', 'runs per driver', '2000')
  .option('--time <seconds>', 'stop after this long even if runs remain')
  .option('--seed <n>', 'campaign seed: the same seed gives the same counterexample', '1')
  .option('--strategy <name>', 'schedule strategy: pct, random or exhaustive', 'pct')
  .option('--profile <name>', 'kernel API profile (default: the profiles the driver declares)')
  .option('--workers <n>', 'worker threads', '1')
  .option('--require-window <names...>', `fail if a race window was never reached (${WINDOWS.join(', ')})`)
  .option('--json', 'print one JSON object instead of text')
  .option('--no-typecheck', 'do not type-check the driver modules first')
  .option('--html <file>', "write the counterexample's HTML timeline to this file")
  .action(async (drivers: string[], opts) => {
    process.exitCode = await fuzzCommand(drivers, opts);
  });

program
  .command('replay')
  .description('rerun a counterexample exactly from its replay token and print the full report and trace')
  .argument('<driver>', 'the driver module (or its folder)')
  .argument('<token>', 'the replay token hmmlab printed')
  .option('--json', 'print JSON instead of text')
  .action(async (driver: string, token: string, opts) => {
    process.exitCode = await replayCommand(driver, token, opts);
  });

program
  .command('report')
  .description('replay a counterexample and write its timeline as one self-contained HTML file')
  .argument('<driver>', 'the driver module (or its folder)')
  .argument('<token>', 'the replay token hmmlab printed')
  .requiredOption('--html <file>', 'where to write the HTML timeline')
  .option('--json', 'print JSON instead of text')
  .action(async (driver: string, token: string, opts) => {
    process.exitCode = await reportCommand(driver, token, opts);
  });

program
  .command('test')
  .description("run your repository's driver tests (vitest)")
  .argument('[args...]', 'arguments passed to vitest run')
  .allowUnknownOption()
  .action((args: string[]) => {
    process.exitCode = testCommand(args ?? []);
  });

/** Prints what a static command returned; usage errors (exit 2) go to stderr, like the other commands'. */
function emit(r: CommandResult): void {
  (r.exitCode === 2 ? process.stderr : process.stdout).write(r.stdout);
  process.exitCode = r.exitCode;
}

program
  .command('lint')
  .description('check driver callbacks statically against the flush contract (exit 1 on an error finding)')
  .argument('<paths...>', 'driver files or folders')
  .option('--json', 'print { "findings": [...] }')
  .action((paths: string[], opts: { json?: boolean }) => {
    emit(lintCommand({ paths, json: opts.json === true }));
  });

program
  .command('explain')
  .description('print the decision table of each invalidate callback: conditions, flushes, set_seq, return value')
  .argument('<paths...>', 'driver files or folders')
  .option('--json', 'print the tables as JSON')
  .action((paths: string[], opts: { json?: boolean }) => {
    emit(explainCommand({ paths, json: opts.json === true }));
  });

program
  .command('codemod')
  .description('rewrite driver code from one kernel API profile to another (5.8, seed, 5.9, 5.14, 6.1, latest)')
  .argument('<paths...>', 'driver files or folders')
  .requiredOption('--from <profile>', 'the profile the code is written for')
  .requiredOption('--to <profile>', 'the profile to rewrite it for')
  .option('--dry-run', 'print the diff and change nothing')
  .action((paths: string[], opts: { from: string; to: string; dryRun?: boolean }) => {
    emit(codemodCommand({ paths, from: opts.from, to: opts.to, dryRun: opts.dryRun === true }));
  });

program
  .command('init')
  .description('scaffold a driver package from an example: driver, tests, fuzz test, README')
  .argument('<dir>', 'the folder to create')
  .requiredOption('--template <name>', 'dmirror, nouveau, amdkfd, xe or odp')
  .action((dir: string, opts: { template: string }) => {
    emit(initCommand({ dir, template: opts.template }));
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander already printed the message (unknown option, missing argument, help, version).
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof UsageError) {
    process.stderr.write(`hmmlab: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    throw e;
  }
}
