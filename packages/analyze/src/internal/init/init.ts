/**
 * `init`: scaffolds a driver package outside this repository from one of the example drivers:
 * the example's sources, a passing test, a fuzz test over a few schedule seeds, a README, a
 * package.json that depends on the hmmlab packages of this checkout (`file:` for npm, `link:`
 * overrides for pnpm), and a tsconfig.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AnalyzeError } from '../errors.js';
import { packageJson, pnpmWorkspace, readme, tsconfig } from './files.js';
import { checkTarget } from './target.js';
import { driverTest, fuzzTest } from './tests.js';

/** The templates and the example folders they come from (first that exists). */
const TEMPLATES = {
  dmirror: ['dmirror'],
  nouveau: ['nouveau-style', 'nouveau'],
  amdkfd: ['amdkfd-style', 'amdkfd'],
  xe: ['xe-style', 'xe'],
  odp: ['mlx5-odp-style', 'odp-style', 'mlx5-odp', 'odp'],
} as const;

/** A template name. */
export type TemplateName = keyof typeof TEMPLATES;

/** The template names. */
export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

/** Options of {@link init}. */
export interface InitOptions {
  /** The template's name (one of {@link TEMPLATE_NAMES}). */
  readonly template: string;
  /** The hmmlab checkout whose examples and packages to use. @defaultValue the one this module is in */
  readonly hmmlabRoot?: string;
}

/** What {@link init} wrote. */
export interface InitResult {
  /** The folder written. */
  readonly dir: string;
  /** The template used. */
  readonly template: TemplateName;
  /** Files written, relative to `dir`, sorted. */
  readonly files: string[];
}

const HERE = dirname(fileURLToPath(import.meta.url));

function exampleDir(root: string, template: TemplateName): string {
  for (const name of TEMPLATES[template]) {
    const d = join(root, 'examples', name);
    if (existsSync(join(d, 'driver.ts'))) return d;
  }
  throw new AnalyzeError(
    'ERR_TEMPLATE',
    `init: template ${template} is not available in ${root}: none of ${TEMPLATES[template].map((n) => `examples/${n}/driver.ts`).join(', ')} exists; pick another template`,
  );
}

/** Relative module specifiers of a source. */
function relativeImports(text: string): string[] {
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] as string);
}

/**
 * The sources to copy: the example's non-test `.ts` files and every file they reach through
 * relative imports. Files outside the example's folder go to `shared/` (specifiers rewritten).
 */
function collectSources(dir: string, examples: string): Map<string, string> {
  const out = new Map<string, string>();
  const target = (abs: string) => (abs.startsWith(`${dir}/`) ? relative(dir, abs) : join('shared', relative(examples, abs)));
  const work = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));
  const seen = new Set<string>();
  while (work.length > 0) {
    const abs = work.shift() as string;
    if (seen.has(abs)) continue;
    seen.add(abs);
    let text = readFileSync(abs, 'utf8');
    for (const spec of relativeImports(text)) {
      const dep = resolve(dirname(abs), spec.replace(/\.js$/, '.ts'));
      if (!existsSync(dep)) continue;
      work.push(dep);
      let rel = relative(dirname(target(abs)), target(dep)).replace(/\.ts$/, '.js');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      if (rel !== spec) text = text.split(`'${spec}'`).join(`'${rel}'`);
    }
    out.set(target(abs), text);
  }
  return out;
}

/**
 * Scaffolds a driver package in `dir` (which must not exist or be empty) from the example the
 * template names: `dmirror`, `nouveau`, `amdkfd`, `xe` or `odp`.
 */
export function init(dir: string, options: InitOptions): InitResult {
  if (!(TEMPLATE_NAMES as string[]).includes(options.template)) {
    throw new AnalyzeError('ERR_TEMPLATE', `init: unknown template "${options.template}"; expected one of ${TEMPLATE_NAMES.join(', ')}`);
  }
  const template = options.template as TemplateName;
  const root = resolve(options.hmmlabRoot ?? join(HERE, '..', '..', '..', '..', '..'));
  const target = checkTarget(dir);
  const abs = target.abs;
  const example = exampleDir(root, template);
  const files = collectSources(example, join(root, 'examples'));
  const name =
    basename(abs)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-') || 'driver';
  const usesFuzz = [...files.values()].some((t) => t.includes("'@hmmlab/fuzz'"));
  files.set('driver.test.ts', driverTest());
  files.set('driver.fuzz.test.ts', fuzzTest());
  files.set('package.json', packageJson(name, root, usesFuzz));
  files.set('pnpm-workspace.yaml', pnpmWorkspace(root, usesFuzz));
  files.set('tsconfig.json', tsconfig());
  files.set('README.md', readme(name, template, relative(root, example)));
  files.set('.gitignore', 'node_modules/\n');
  target.create();
  for (const [rel, text] of files) {
    const p = join(abs, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return { dir: abs, template, files: [...files.keys()].sort() };
}
