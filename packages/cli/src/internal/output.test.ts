import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareFolder, prepareOutput } from './output.js';
import { UsageError } from './usage.js';

const dir = mkdtempSync(join(tmpdir(), 'hmmlab-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('prepareOutput', () => {
  it('should create the missing folders of the file', () => {
    const file = join(dir, 'a', 'b', 'x.html');
    prepareOutput('--html', file);
    expect(existsSync(join(dir, 'a', 'b'))).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it.each([
    ['a folder that cannot be created', '/proc/nope/x.html', /--html \/proc\/nope\/x\.html: cannot write it \(.*\)/],
    ['a path through a file', 'file-not-folder/x.html', /is not a folder/],
    ['a path that is a folder', 'folder', /it is a folder/],
  ])('should throw a UsageError for %s', (_what, path, message) => {
    writeFileSync(join(dir, 'file-not-folder'), '');
    mkdirSync(join(dir, 'folder'), { recursive: true });
    const target = path.startsWith('/') ? path : join(dir, path);
    expect(() => prepareOutput('--html', target)).toThrow(UsageError);
    expect(() => prepareOutput('--html', target)).toThrow(message);
  });
});

describe('prepareFolder', () => {
  it('should accept a folder that exists, and create one that is missing below a writable folder', () => {
    prepareFolder('--corpus', dir);
    prepareFolder('--corpus', join(dir, 'c', 'd'));
    expect(existsSync(join(dir, 'c', 'd'))).toBe(true);
  });

  it('should refuse, at once, a folder that cannot be created under /proc', () => {
    expect(() => prepareFolder('--corpus', '/proc/nope/corpus')).toThrow(/^--corpus \/proc\/nope\/corpus: cannot write it \(/);
  });

  it.each([
    ['a file', 'plain-file', /--corpus .*plain-file: cannot write it \(.*plain-file is not a folder\)/],
    ['a folder below a file', 'plain-file/sub', /--corpus .*plain-file\/sub: cannot write it \(.*plain-file is not a folder\)/],
  ])('should throw a UsageError for %s', (_what, path, message) => {
    writeFileSync(join(dir, 'plain-file'), '');
    expect(() => prepareFolder('--corpus', join(dir, path))).toThrow(UsageError);
    expect(() => prepareFolder('--corpus', join(dir, path))).toThrow(message);
  });
});
