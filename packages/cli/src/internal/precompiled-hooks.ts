/**
 * The module loader of a watched worker whose driver modules the command compiled ahead
 * (precompile.ts): registered with `module.register`, it runs in Node.js's loader thread. It
 * serves each compiled TypeScript module under its own URL and leads the imports the compilation
 * resolved to them; everything else (hmmlab's packages, other packages, Node.js's modules) Node.js
 * resolves and loads itself.
 */
import { readFileSync } from 'node:fs';
import type { InitializeHook, LoadHook, ResolveHook } from 'node:module';
import type { Precompiled } from './precompile.js';

let compiled: Precompiled = { modules: {}, resolved: {} };

export const initialize: InitializeHook<Precompiled> = (data) => {
  compiled = data;
};

export const resolve: ResolveHook = (specifier, context, next) => {
  const url = context.parentURL === undefined ? undefined : compiled.resolved[`${context.parentURL}\n${specifier}`];
  return url === undefined ? next(specifier, context) : { url, format: 'module', shortCircuit: true };
};

export const load: LoadHook = (url, context, next) => {
  const file = compiled.modules[url];
  return file === undefined ? next(url, context) : { format: 'module', source: readFileSync(file, 'utf8'), shortCircuit: true };
};
