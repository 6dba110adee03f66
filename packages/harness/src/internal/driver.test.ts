import { describe, expect, it } from 'vitest';
import { callingModule } from './driver.js';

const stack = (...frames: string[]): string => ['Error', ...frames.map((f) => `    at ${f}`)].join('\n');

describe('callingModule', () => {
  it("should find a module's top-level frame as V8 prints it, past named functions", () => {
    const s = stack(
      'defineDriver (file:///repo/packages/harness/dist/driver.js:9:3)',
      'mirror (file:///repo/t/lib.js:4:10)',
      'file:///repo/t/my%20driver.js:12:16',
    );
    expect(callingModule(s)).toBe('/repo/t/my driver.js');
  });

  it('should find it as Node prints it with source maps on (TypeScript through tsx)', () => {
    const s = stack(
      'defineDriver (/repo/packages/harness/src/internal/driver.ts:103:14)',
      'mirror (/repo/t/lib.ts:4:10)',
      '<anonymous> (/repo/t/driver.test.ts:12:16)',
    );
    expect(callingModule(s)).toBe('/repo/t/driver.test.ts');
  });

  it('should skip frames in node_modules and give undefined when only named functions are left', () => {
    expect(callingModule(stack('file:///repo/node_modules/x/index.js:1:1', '<anonymous> (/repo/node_modules/y/a.ts:2:2)'))).toBeUndefined();
    expect(callingModule(stack('run (/repo/a.ts:1:1)', 'async main (file:///repo/b.js:2:2)'))).toBeUndefined();
    expect(callingModule(undefined)).toBeUndefined();
  });
});
