/**
 * The command line as a process: exit statuses for hostile drivers (a callback that spins,
 * allocates without bound or never settles, a probe that throws), output paths checked before any
 * work, worker threads giving the serial campaign's result, and SIGINT. Checked by exit status and
 * output only, never by elapsed time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCampaign } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/bin/hmmlab.js', import.meta.url));
const fixtures = 'test/cli/fixtures';
const schema = JSON.parse(readFileSync(`${root}/packages/cli/schema/hmmlab-result.schema.json`, 'utf8')) as object;
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

/** The JSON document's errors against the published schema; '' when it validates. */
function errorsOf(doc: unknown): string {
  return validate(doc) ? '' : JSON.stringify(validate.errors, null, 1);
}

interface Entry {
  status: string;
  violations: { rule: string; step: number; explanation: string }[];
  replay: string | null;
}

interface Doc {
  interrupted?: boolean;
  drivers: Entry[];
  notLoaded?: { file: string; error: string }[];
}

function hmmlab(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 600_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const TOKEN = /hmmlab2_[A-Za-z0-9_-]+/;

describe('hmmlab fuzz with hostile drivers', () => {
  it.each([
    ['a callback that spins', 'sync-spin', ['--hang-timeout', '1'], 'callback-hung', /did not return control for 1 s/],
    [
      'a callback that spins awaiting settled promises',
      'await-spin',
      ['--hang-timeout', '1'],
      'callback-hung',
      /did not return control for 1 s.*awaiting only promises that are already settled/,
    ],
    ['a callback that allocates without bound', 'unbounded-alloc', ['--max-heap', '64'], 'callback-threw', /heap limit of 64 MB/],
    [
      'a callback whose promise never settles',
      'never-settles',
      [],
      'callback-hung',
      /awaits a promise that no model primitive will settle/,
    ],
  ])('should exit 1 with a report and a replay token for %s', (_what, fixture, extra, rule, why) => {
    const r = hmmlab('fuzz', `${fixtures}/${fixture}`, '--runs', '20', '--no-typecheck', '--json', ...extra);
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(errorsOf(doc)).toBe('');
    const out = doc.drivers[0];
    expect(out?.status).toBe('fail');
    expect(out?.violations[0]?.rule).toBe(rule);
    expect(out?.violations[0]?.explanation).toMatch(why);
    expect(out?.replay).toMatch(TOKEN);
    expect(r.stderr).not.toMatch(/heap out of memory|FATAL ERROR/);
  });

  it('should pass the same driver whose callback returns at once', () => {
    const r = hmmlab('fuzz', `${fixtures}/calm`, '--runs', '5', '--no-typecheck', '--hang-timeout', '1', '--max-heap', '64');
    expect(r.stdout).toContain('verdict   pass');
    expect(r.status).toBe(0);
  });

  it('should exit 2 with file:line and the message when the probe throws', () => {
    const r = hmmlab('fuzz', `${fixtures}/probe-throws`, '--runs', '20', '--no-typecheck');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^hmmlab: test\/cli\/fixtures\/probe-throws\/driver\.ts:\d+: .*threw: no device found\n$/);
  });

  it('should exit 2 with file:line and the message when the probe throws under replay, report and test --corpus', () => {
    const found = hmmlab('fuzz', `${fixtures}/known-bug`, '--runs', '200', '--no-typecheck', '--no-corpus');
    const token = TOKEN.exec(found.stdout)?.[0] ?? '';
    expect(token).not.toBe('');
    const dir = mkdtempSync(join(tmpdir(), 'hmmlab-probe-'));
    try {
      const saved = join(dir, 'probe-throws', 'counterexamples');
      mkdirSync(saved, { recursive: true });
      const module = relative(saved, resolve(root, fixtures, 'probe-throws/driver.ts'))
        .split(sep)
        .join('/');
      const body = { format: 'hmmlab-counterexample-1', driver: 'probe-throws', module, rule: 'missed-flush', seed: 1, runIndex: 0, token };
      writeFileSync(join(saved, 'c.json'), JSON.stringify(body));
      for (const args of [
        ['replay', `${fixtures}/probe-throws`, token],
        ['report', `${fixtures}/probe-throws`, token, '--html', join(dir, 'r.html')],
      ]) {
        const r = hmmlab(...args);
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(
          /^hmmlab: test\/cli\/fixtures\/probe-throws\/driver\.ts:\d+: probe of driver "probe-throws" threw: no device found\n$/,
        );
      }
      const c = hmmlab('test', '--corpus', dir);
      expect(c.status).toBe(2);
      expect(c.stderr).toContain('probe of driver "probe-throws" threw: no device found');
      expect(c.stderr).not.toContain('internal error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should fuzz and report the other drivers when one of several does not load, then exit 2', () => {
    const args = [
      'fuzz',
      `${fixtures}/known-bug`,
      `${fixtures}/probe-throws`,
      `${fixtures}/correct`,
      '--runs',
      '200',
      '--no-typecheck',
      '--no-corpus',
    ];
    const r = hmmlab(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/probe-throws\/driver\.ts:\d+: probe of driver "probe-throws" threw: no device found/);
    expect(r.stdout).toContain('NOT LOADED: test/cli/fixtures/probe-throws/driver.ts');
    expect(r.stdout).toMatch(/known-bug .* caught/);
    expect(r.stdout).toContain('1 driver(s) did not load');
    const j = hmmlab(...args, '--json');
    expect(j.status).toBe(2);
    const doc = JSON.parse(j.stdout) as Doc & { notLoaded?: { file: string; error: string }[] };
    expect(errorsOf(doc)).toBe('');
    expect(doc.drivers.map((d) => d.status)).toEqual(['caught', 'pass']);
    expect(doc.notLoaded?.map((n) => n.file)).toEqual(['test/cli/fixtures/probe-throws/driver.ts']);
  });

  it('should watch the replay of a hung run and report it again', () => {
    const found = hmmlab('fuzz', `${fixtures}/sync-spin`, '--runs', '20', '--no-typecheck', '--hang-timeout', '1');
    const token = TOKEN.exec(found.stdout)?.[0] ?? '';
    expect(token).not.toBe('');
    const r = hmmlab('replay', `${fixtures}/sync-spin`, token, '--hang-timeout', '1');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('callback-hung');
    expect(r.stdout).toContain('replayed as recorded: callback-hung');
    const j = hmmlab('replay', `${fixtures}/sync-spin`, token, '--hang-timeout', '1', '--json');
    expect(j.status).toBe(1);
    const doc = JSON.parse(j.stdout) as Doc;
    expect(errorsOf(doc)).toBe('');
    expect(doc.drivers[0]?.status).toBe('reproduced');
    expect(doc.drivers[0]?.violations[0]?.rule).toBe('callback-hung');
  });

  it('should exit 1 with a report and a replay token for a callback that grows one array until V8 aborts, and replay it', () => {
    // V8 ends the process, not the thread, for this one: the thread runs in a host process of its own.
    // A hang bound far beyond the abort (about a second here), so that a loaded machine still aborts first.
    const slow = ['--max-heap', '64', '--hang-timeout', '120'];
    const found = hmmlab('fuzz', `${fixtures}/unbounded-array`, '--runs', '20', '--no-typecheck', '--json', ...slow);
    expect(found.status).toBe(1);
    const doc = JSON.parse(found.stdout) as Doc;
    expect(errorsOf(doc)).toBe('');
    const out = doc.drivers[0];
    expect(out?.status).toBe('fail');
    expect(out?.violations[0]?.rule).toBe('callback-threw');
    expect(out?.violations[0]?.explanation).toMatch(/made V8 abort the process it ran in after scheduler step \d+: "Reached heap limit/);
    // V8's own output of the abort is left out.
    expect(found.stderr).not.toMatch(/heap out of memory|FATAL ERROR|Native stack trace/);
    const token = out?.replay ?? '';
    expect(token).toMatch(TOKEN);
    const r = hmmlab('replay', `${fixtures}/unbounded-array`, token, ...slow);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('replayed as recorded: callback-threw');
  });

  it('should exit 3 when the token of a hung run is replayed against a driver that returns', () => {
    const found = hmmlab('fuzz', `${fixtures}/sync-spin`, '--runs', '20', '--no-typecheck', '--hang-timeout', '1');
    const token = TOKEN.exec(found.stdout)?.[0] ?? '';
    expect(token).not.toBe('');
    const r = hmmlab('replay', `${fixtures}/calm`, token, '--hang-timeout', '1');
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^hmmlab: replay diverged: .*callback-hung/);
  });
});

describe('hmmlab output paths', () => {
  it.each([
    ['report', ['report', `${fixtures}/no-flush`, 'hmmlab2_x', '--html', '/proc/nope/x.html']],
    ['fuzz', ['fuzz', `${fixtures}/no-flush`, '--runs', '5', '--no-typecheck', '--html', '/proc/nope/x.html']],
  ])('should exit 2 at once with one line when %s cannot write --html', (_cmd, args) => {
    const r = hmmlab(...(args as string[]));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^hmmlab: --html \/proc\/nope\/x\.html: cannot write it \(.+\)\n$/);
  });
});

describe('hmmlab fuzz --workers', () => {
  it('should give the serial campaign verdict, violation and token for 1, 2 and all cores', async () => {
    const serial = await runCampaign(await loadDriver(`${root}/${fixtures}/no-flush`), { runs: 60, seed: 3 });
    expect(serial.failure).not.toBeNull();
    for (const w of new Set([1, 2, availableParallelism()])) {
      const r = hmmlab('fuzz', `${fixtures}/no-flush`, '--runs', '60', '--seed', '3', '--no-typecheck', '--json', '--workers', String(w));
      const out = (JSON.parse(r.stdout) as Doc).drivers[0];
      expect(r.status).toBe(1);
      expect(out?.status).toBe(serial.verdict);
      expect(out?.violations[0]?.rule).toBe(serial.failure?.violation.rule);
      expect(out?.violations[0]?.step).toBe(serial.failure?.violation.step);
      expect(out?.replay).toBe(serial.failure?.token);
    }
  });
});

describe('hmmlab fuzz under a shape of large scenarios', () => {
  it('should pass a correct driver: drawing many scenarios of 100 regions ahead holds no arbitraries of theirs', () => {
    const r = hmmlab(
      'fuzz',
      `${fixtures}/correct`,
      '--runs',
      '300',
      '--shape',
      '{"regions":{"min":100,"max":100}}',
      '--max-heap',
      '256',
      '--no-typecheck',
      '--no-corpus',
      // A loaded machine takes more than the progress interval: stderr is for errors here.
      '--quiet',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('verdict   pass: no violation in 300 runs');
    expect(r.status).toBe(0);
  });
});

/**
 * Runs `hmmlab <args>` and sends it SIGINT once `ready(stdout, stderr)` holds (checked as output
 * arrives); its exit status, its output, and whether the signal was sent.
 */
async function interruptWhen(
  args: readonly string[],
  ready: (stdout: string, stderr: string) => boolean,
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string; sent: boolean }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  let sent = false;
  const check = (): void => {
    if (!sent && ready(stdout, stderr)) {
      sent = true;
      child.kill('SIGINT');
    }
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (s: string) => {
    stdout += s;
    check();
  });
  child.stderr.on('data', (s: string) => {
    stderr += s;
    check();
  });
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { status, stdout, stderr, sent };
}

describe('hmmlab fuzz interrupted', () => {
  it('should print the violations found so far with their tokens and exit 130 on SIGINT', async () => {
    const { status, stdout, sent } = await interruptWhen(
      ['fuzz', `${fixtures}/no-flush`, `${fixtures}/correct`, '--runs', '1000000', '--no-typecheck'],
      // The first driver's result is out: interrupt the second, long campaign.
      (out) => /no-flush.*replay: hmmlab replay/.test(out),
    );
    expect(sent).toBe(true);
    expect(status).toBe(130);
    expect(stdout).toContain('missed-flush');
    expect(stdout).toMatch(TOKEN);
    expect(stdout).toMatch(/interrupted: 1 driver\(s\) done, test\/cli\/fixtures\/correct\/driver\.ts stopped after \d+ run\(s\)/);
  });

  it('should name every campaign SIGINT cut short when drivers are fuzzed at once, and the drivers not started', async () => {
    const { status, stdout, sent } = await interruptWhen(
      [
        'fuzz',
        `${fixtures}/correct`,
        'examples/dmirror-fixed',
        `${fixtures}/no-flush`,
        '--runs',
        '1000000',
        '--no-typecheck',
        '--no-corpus',
        '--jobs',
        '2',
      ],
      // Both campaigns have made runs: interrupt them.
      (_out, err) => /correct\/driver\.ts: [1-9]/.test(err) && /dmirror-fixed\/driver\.ts: [1-9]/.test(err),
      { HMMLAB_PROGRESS_INTERVAL: '0' },
    );
    expect(sent).toBe(true);
    expect(status).toBe(130);
    expect(stdout).toMatch(
      /\ninterrupted: 0 driver\(s\) done, test\/cli\/fixtures\/correct\/driver\.ts stopped after [1-9]\d* run\(s\) and examples\/dmirror-fixed\/driver\.ts after [1-9]\d* without a result, 1 driver\(s\) not started\n$/,
    );
  });

  it('should print the JSON document with interrupted: true, valid against the schema, on SIGINT', async () => {
    const { status, stdout, stderr, sent } = await interruptWhen(
      [
        'fuzz',
        `${fixtures}/throws-at-load`,
        `${fixtures}/no-flush`,
        `${fixtures}/correct`,
        '--runs',
        '1000000',
        '--no-typecheck',
        '--json',
      ],
      // The first driver's line is out (on stderr with --json): interrupt the second campaign.
      (_out, err) => /no-flush.*replay: hmmlab replay/.test(err),
    );
    expect(sent).toBe(true);
    expect(status).toBe(130);
    const doc = JSON.parse(stdout) as Doc;
    expect(errorsOf(doc)).toBe('');
    expect(doc.interrupted).toBe(true);
    expect(doc.drivers.map((d) => d.violations[0]?.rule)).toEqual(['missed-flush']);
    expect(doc.drivers[0]?.replay).toMatch(TOKEN);
    // The driver that did not load is still named, as in a campaign that ends.
    expect(doc.notLoaded?.map((n) => n.file)).toEqual(['test/cli/fixtures/throws-at-load/driver.ts']);
    expect(stderr).toMatch(/interrupted: test\/cli\/fixtures\/correct\/driver\.ts stopped after \d+ run\(s\)/);
  });

  it('should say interrupted: true in the JSON of a campaign --time stopped before its runs, and exit as its verdict says', () => {
    const r = hmmlab('fuzz', `${fixtures}/correct`, '--runs', '100000000', '--time', '1', '--no-typecheck', '--no-corpus', '--json');
    const doc = JSON.parse(r.stdout) as Doc & { drivers: { runs: number }[] };
    expect(errorsOf(doc)).toBe('');
    expect(doc.interrupted).toBe(true);
    expect(doc.drivers[0]?.runs).toBeLessThan(100000000);
    expect(r.status).toBe(0);
  });
});
