import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DefaultTheme, defineConfig } from 'vitepress';

const docs = fileURLToPath(new URL('..', import.meta.url));

/** The pages of a folder of docs/ that has no fixed list (written as findings are made), by title. */
function folderPages(folder: string): DefaultTheme.SidebarItem[] {
  const dir = join(docs, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => {
      const title = /^#\s+(.+)$/m.exec(readFileSync(join(dir, f), 'utf8'))?.[1] ?? f.replace(/\.md$/, '');
      return { text: title, link: `/${folder}/${f.replace(/\.md$/, '').replace(/^index$/, '')}` };
    });
}

const findings = folderPages('findings');

/**
 * The API reference's sidebar, written by TypeDoc (`pnpm docs:api`, run first by `docs:build` and
 * `docs:dev`) beside the pages it generates into docs/api.
 */
function apiSidebar(): DefaultTheme.SidebarItem[] {
  const file = join(docs, 'api/typedoc-sidebar.json');
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as DefaultTheme.SidebarItem[];
}

const api = apiSidebar();

// The documentation site. `pnpm docs:build` builds it offline into docs/.vitepress/dist.
export default defineConfig({
  title: 'hmmlab',
  description: 'Test and fuzz the MMU notifier callbacks of Linux device drivers against an executable model of the kernel',
  cleanUrls: true,
  lastUpdated: false,
  // Pages link to files of the repository outside docs/ (examples, sources); they are not pages.
  ignoreDeadLinks: [/^\.\.\/\.\.\//],
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/getting-started' },
      { text: 'Kernel semantics', link: '/kernel-semantics/' },
      { text: 'Examples', link: '/examples/' },
      { text: 'CLI', link: '/reference/cli' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/guide/getting-started' },
          { text: 'Your driver repository', link: '/guide/your-repo' },
          { text: 'The flush contract', link: '/guide/flush-contract' },
          { text: 'The device model', link: '/guide/device-model' },
          { text: 'Huge pages', link: '/guide/huge-pages' },
          { text: 'Scenario ops and unbind', link: '/guide/scenarios' },
          { text: 'Reports and the timeline', link: '/guide/reports' },
          { text: 'Coverage, feedback, corpus', link: '/guide/coverage' },
          { text: 'Static checks and codemods', link: '/guide/static-checks' },
          { text: 'C drivers: lint, explain, init --from', link: '/guide/c-drivers' },
          { text: 'Exit codes, watchdog, signals', link: '/guide/running' },
          { text: 'Scaling out: shards, merge, CI', link: '/guide/scale-out' },
          { text: 'Mutation testing', link: '/guide/mutation' },
          { text: 'Differential testing vs Linux 6.1', link: '/guide/differential' },
        ],
      },
      {
        text: 'Kernel semantics',
        items: [
          { text: 'What the model implements', link: '/kernel-semantics/' },
          { text: 'Kernel API profiles', link: '/kernel-semantics/profiles' },
          { text: 'Known gaps', link: '/kernel-semantics/gaps' },
        ],
      },
      {
        text: 'Examples',
        items: [
          { text: 'The examples tour', link: '/examples/' },
          { text: 'The bug zoo', link: '/examples/bug-zoo' },
        ],
      },
      ...(findings.length > 0 ? [{ text: 'Findings', items: findings }] : []),
      {
        text: 'Mutation results',
        items: ['dmirror-fixed', 'nouveau-style', 'amdkfd-style', 'amdkfd-style-xnack-off', 'xe-style', 'mlx5-odp-style'].map((t) => ({
          text: t,
          link: `/mutation/${t}`,
        })),
      },
      {
        text: 'Reference',
        items: [
          { text: 'Command line', link: '/reference/cli' },
          { text: 'API reference', link: '/api/' },
          { text: 'Performance', link: '/performance' },
        ],
      },
      ...(api.length > 0 ? [{ text: 'API reference', collapsed: true, items: api }] : []),
    ],
    search: { provider: 'local' },
    outline: { level: [2, 3] },
  },
});
