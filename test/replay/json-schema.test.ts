/**
 * The JSON of `hmmlab fuzz --json`, `replay --json` and `report --json`, real outputs of each,
 * validates against the published schema (packages/cli/schema/hmmlab-result.schema.json), and the
 * schema rejects the layouts it replaced.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'packages/cli/bin/hmmlab.js');
const schema = JSON.parse(readFileSync(join(root, 'packages/cli/schema/hmmlab-result.schema.json'), 'utf8')) as object;
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
const fixtures = 'test/cli/fixtures';

interface Doc {
  command: string;
  drivers: { status: string; replay: string | null; violations: { rule: string; step: number }[]; html?: string | null }[];
}

function hmmlab(...args: string[]): { status: number; doc: Doc; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, doc: JSON.parse(r.stdout) as Doc, stderr: r.stderr };
}

function errorsOf(doc: unknown): string {
  return validate(doc) ? '' : JSON.stringify(validate.errors, null, 1);
}

let dir = '';
let fuzz: ReturnType<typeof hmmlab>;
let token = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hmmlab-json-'));
  fuzz = hmmlab('fuzz', `${fixtures}/no-flush`, '--runs', '300', '--json', '--no-typecheck');
  token = fuzz.doc.drivers[0]?.replay ?? '';
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('the hmmlab result schema', () => {
  it('should validate fuzz --json of a driver with a violation', () => {
    expect(fuzz.status).toBe(1);
    expect(fuzz.doc.drivers[0]?.violations[0]?.rule).toBe('missed-flush');
    expect(errorsOf(fuzz.doc)).toBe('');
  });

  it('should validate fuzz --json of several drivers, one without a violation', () => {
    const r = hmmlab('fuzz', `${fixtures}/known-bug`, `${fixtures}/correct`, '--runs', '200', '--json', '--no-typecheck');
    expect(r.doc.drivers.map((d) => d.status)).toEqual(['caught', 'pass']);
    expect(r.doc.drivers[1]?.violations).toEqual([]);
    expect(errorsOf(r.doc)).toBe('');
  });

  it('should validate replay --json of a reproduced run and of a diverged one', () => {
    const same = hmmlab('replay', `${fixtures}/no-flush`, token, '--json');
    expect([same.status, same.doc.drivers[0]?.status]).toEqual([1, 'reproduced']);
    expect(errorsOf(same.doc)).toBe('');
    const fixed = hmmlab('replay', `${fixtures}/correct`, token, '--json');
    expect([fixed.status, fixed.doc.drivers[0]?.status]).toEqual([3, 'diverged']);
    expect(fixed.stderr).toMatch(/^hmmlab: replay diverged: the run no longer reaches the recorded missed-flush/);
    expect(errorsOf(fixed.doc)).toBe('');
  });

  it('should validate report --json', () => {
    const out = join(dir, 'report.html');
    const r = hmmlab('report', `${fixtures}/no-flush`, token, '--html', out, '--json');
    expect([r.status, r.doc.command, r.doc.drivers[0]?.html]).toEqual([1, 'report', out]);
    expect(errorsOf(r.doc)).toBe('');
  });

  it.each([
    ['a top-level verdict beside the statuses', (d: Doc) => ({ ...d, verdict: 'fail' })],
    ['a singular violation', (d: Doc) => ({ ...d, drivers: d.drivers.map((x) => ({ ...x, violation: x.violations[0] })) })],
    ['another schemaVersion', (d: Doc) => ({ ...d, schemaVersion: 2 })],
    ['a violation without its rule', (d: Doc) => ({ ...d, drivers: d.drivers.map((x) => ({ ...x, violations: [{ step: 1 }] })) })],
  ])('should reject %s', (_what, change) => {
    expect(errorsOf(fuzz.doc)).toBe('');
    expect(errorsOf(change(fuzz.doc))).not.toBe('');
  });
});
