import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lint } from '../lint.js';
import { REPO, tempDir } from '../testing/temp.js';

// E1's driver overrides one method of the shared SvmMirror (examples/buggy/lib): its lock leak
// is in the base class's callback, which lint sees only by following the import.
const CASE = join(REPO, 'examples/buggy/e1-nonblocking-lock-leak');
const LIB = join(REPO, 'examples/buggy/lib');

describe('Program.resolveModule', () => {
  it.each([
    ['an absolute path', (file: string) => join(LIB, file)],
    ['a file: URL', (file: string) => pathToFileURL(join(LIB, file)).href],
  ])('should follow an import by %s as it follows the relative import', (_, spec) => {
    const relative = lint([CASE], { cwd: CASE });
    expect(relative.findings.map((f) => f.rule)).toEqual(['lock-leak']);
    const dir = tempDir('abs-import');
    try {
      const text = readFileSync(join(CASE, 'driver.ts'), 'utf8').replace(/'\.\.\/lib\/([\w-]+\.js)'/g, (_m, f: string) => `'${spec(f)}'`);
      expect(text).not.toContain('../lib/');
      writeFileSync(join(dir.path, 'driver.ts'), text);
      const absolute = lint([dir.path], { cwd: dir.path });
      expect(absolute).toEqual(relative);
      expect(absolute.findings[0]?.file).toBe('driver.ts');
    } finally {
      dir.dispose();
    }
  });
});
