/** The bundled packages, and the modules of each that others load by URL (scripts/bundle.js). */
export const BUNDLED: Readonly<Record<'core' | 'harness' | 'assertions' | 'fuzz', readonly string[]>>;

/** Bundles the stale packages of the checkout at `root` (all with `force`); returns their names. */
export function bundle(options?: { force?: boolean; root?: string }): Promise<string[]>;
