/**
 * Build-time data of the examples tour and the bug zoo: every driver folder under examples/ (and
 * examples/buggy/) as it exists when the site is built, with its README rendered and its
 * expected.json read. Drivers added later appear on the next build without editing the pages.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createMarkdownRenderer, defineLoader, type SiteConfig } from 'vitepress';

/** One example driver. */
export interface ExampleDriver {
  /** Folder relative to the repository root (`examples/dmirror`). */
  readonly dir: string;
  readonly name: string;
  /** The README's first heading, or the folder name. */
  readonly title: string;
  /** The README's first paragraph, rendered. */
  readonly summary: string;
  /** The whole README, rendered ('' without one). */
  readonly html: string;
  /** expected.json: the rules that must catch its bug, and its bug class. */
  readonly rules: readonly string[];
  readonly bugClass: string | null;
  /** `driver-bug`, `kernel-what-if` (caught only on a kernel changed by a profile override), or null for a correct driver. */
  readonly kind: 'driver-bug' | 'kernel-what-if' | null;
  /** Kernel commit ids the README or expected.json name (12 to 40 hex digits). */
  readonly commits: readonly string[];
}

/** The loader's data. */
export interface ExamplesData {
  readonly examples: readonly ExampleDriver[];
  readonly buggy: readonly ExampleDriver[];
}

declare const data: ExamplesData;

export { data };

const DRIVER_FILES = ['driver.ts', 'driver.js', 'driver.mts', 'driver.mjs'];

function isDriverDir(dir: string): boolean {
  return DRIVER_FILES.some((f) => existsSync(join(dir, f))) || existsSync(join(dir, 'README.md'));
}

function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n !== 'node_modules' && !n.startsWith('.') && statSync(join(dir, n)).isDirectory())
    .sort();
}

function firstParagraph(md: string): string {
  const body = md.replace(/^#[^\n]*\n/, '').trim();
  const para = body.split(/\n\s*\n/).find((p) => !p.startsWith('```') && !p.startsWith('|') && !p.startsWith('#'));
  return para ?? '';
}

export default defineLoader({
  async load(): Promise<ExamplesData> {
    const config = (globalThis as { VITEPRESS_CONFIG?: SiteConfig }).VITEPRESS_CONFIG;
    const srcDir = config?.srcDir ?? resolve('docs');
    const root = resolve(srcDir, '..');
    const md = await createMarkdownRenderer(srcDir, config?.markdown, config?.site.base);
    const read = (dir: string): ExampleDriver => {
      const readme = join(dir, 'README.md');
      const text = existsSync(readme) ? readFileSync(readme, 'utf8') : '';
      const expectedFile = join(dir, 'expected.json');
      const expected = existsSync(expectedFile)
        ? (JSON.parse(readFileSync(expectedFile, 'utf8')) as {
            rules?: string[];
            class?: string;
            kind?: 'driver-bug' | 'kernel-what-if';
            fuzz?: { shape?: { profileOverrides?: object } };
            commit?: string;
            commits?: string[];
          })
        : {};
      const commits = new Set<string>([...(expected.commits ?? []), ...(expected.commit !== undefined ? [expected.commit] : [])]);
      for (const m of text.matchAll(/`([0-9a-f]{12,40})`/g)) commits.add(m[1] as string);
      const name = dir.slice(dir.lastIndexOf('/') + 1);
      return {
        dir: relative(root, dir),
        name,
        title: /^#\s+(.+)$/m.exec(text)?.[1]?.trim() ?? name,
        summary: md.render(firstParagraph(text)),
        html: text === '' ? '' : md.render(text.replace(/^#[^\n]*\n/, '')),
        rules: expected.rules ?? [],
        bugClass: expected.class ?? null,
        kind:
          expected.rules === undefined
            ? null
            : (expected.kind ?? (Object.keys(expected.fuzz?.shape?.profileOverrides ?? {}).length > 0 ? 'kernel-what-if' : 'driver-bug')),
        commits: [...commits],
      };
    };
    const examplesDir = join(root, 'examples');
    const examples = subdirs(examplesDir)
      .filter((n) => n !== 'buggy')
      .map((n) => join(examplesDir, n))
      .filter(isDriverDir)
      .map(read);
    const buggyDir = join(examplesDir, 'buggy');
    const buggy = subdirs(buggyDir)
      .map((n) => join(buggyDir, n))
      .filter(isDriverDir)
      .map(read);
    return { examples, buggy };
  },
});
