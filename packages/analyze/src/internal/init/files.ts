/** The configuration files `init` writes. */
import { join } from 'node:path';

/** The hmmlab packages a scaffolded driver depends on. */
function hmmlabPackages(usesFuzz: boolean): string[] {
  return ['assertions', 'core', ...(usesFuzz ? ['fuzz'] : []), 'harness'];
}

/**
 * `package.json`: the hmmlab packages of the checkout at `root` as `file:` dependencies (npm links
 * them), and the test tools at the versions this repository pins.
 */
export function packageJson(name: string, root: string, usesFuzz: boolean): string {
  const deps = Object.fromEntries(hmmlabPackages(usesFuzz).map((p) => [`@hmmlab/${p}`, `file:${join(root, 'packages', p)}`]));
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: { test: 'vitest run', typecheck: 'tsc --noEmit' },
    dependencies: deps,
    devDependencies: { '@types/node': '^20.19.43', tsx: '4.23.15', typescript: '5.9.3', vitest: '4.1.12' },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/**
 * `pnpm-workspace.yaml`: pnpm installs `file:` folders as copies and then fails on their
 * `workspace:*` dependencies, so every hmmlab package is overridden with a `link:` (npm ignores this file).
 */
export function pnpmWorkspace(root: string, usesFuzz: boolean): string {
  const lines = hmmlabPackages(usesFuzz).map((p) => `  "@hmmlab/${p}": "link:${join(root, 'packages', p)}"`);
  return `# The hmmlab packages come from a local checkout (see README.md).\noverrides:\n${lines.join('\n')}\n# vitest's bundler needs its install script.\nallowBuilds:\n  esbuild: true\n`;
}

/** `tsconfig.json`: the strict settings hmmlab itself uses; types come from the packages' dist/. */
export function tsconfig(): string {
  const cfg = {
    compilerOptions: {
      target: 'ES2023',
      lib: ['ES2023'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      exactOptionalPropertyTypes: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: true,
      noEmit: true,
    },
    include: ['**/*.ts'],
    exclude: ['node_modules'],
  };
  return `${JSON.stringify(cfg, null, 2)}\n`;
}

/** `README.md` of the scaffolded package. */
export function readme(name: string, template: string, example: string): string {
  return `# ${name}

A device driver model for hmmlab, scaffolded by \`hmmlab init --template ${template}\`
from \`${example}\` of the hmmlab repository.

- \`driver.ts\` default-exports the driver definition; the other sources are its parts.
- \`driver.test.ts\` runs one scenario under the flush-contract oracle and expects no violation.
- \`driver.fuzz.test.ts\` runs a larger scenario over several scheduler seeds.

## Commands

\`\`\`sh
npm install        # or: pnpm install (pnpm-workspace.yaml links the hmmlab packages)
npm test           # vitest
npm run typecheck  # tsc --noEmit
\`\`\`

The hmmlab packages come from a local checkout through \`file:\` paths in package.json (and
\`link:\` overrides in pnpm-workspace.yaml); build them there first with \`tsc -b\`, since their
\`types\` and \`default\` exports point at \`dist/\`. From the checkout, \`hmmlab lint .\`,
\`hmmlab fuzz driver.ts\` and \`hmmlab codemod --from <profile> --to <profile> .\` work on this folder.
`;
}
