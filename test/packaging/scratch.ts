/**
 * A scratch installation of the built package, as an application would have it: a directory whose
 * node_modules holds a copy of `dist` + package.json as `dynamics-odata`, and symlinks to every
 * top-level package of this repository's node_modules, optionally without `@nestjs/*`.
 *
 * `dist` is copied, not linked: Node resolves a symlink to its real path and would then find
 * `@nestjs/*` in this repository's node_modules, hiding exactly what the no-Nest test checks.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const DIST = path.join(ROOT, 'dist');

/** Why a test that needs `dist` cannot run, or undefined when it can. */
export function distMissing(): string | undefined {
  return existsSync(path.join(DIST, 'index.js')) && existsSync(path.join(DIST, 'nest/module.js'))
    ? undefined
    : 'dist/ is missing: run `npm run build` first (`npm test` does it in pretest)';
}

export interface ScratchInstall {
  dir: string;
  cleanup(): void;
}

export function scratchInstall(options: { withNest: boolean }): ScratchInstall {
  const dir = mkdtempSync(path.join(tmpdir(), options.withNest ? 'dynamics-odata-app-' : 'dynamics-odata-no-nest-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true }));
  const modules = path.join(dir, 'node_modules');
  mkdirSync(modules);
  const source = path.join(ROOT, 'node_modules');
  for (const entry of readdirSync(source)) {
    if (entry.startsWith('.')) continue;
    if (!options.withNest && entry === '@nestjs') continue;
    symlinkSync(path.join(source, entry), path.join(modules, entry), 'dir');
  }
  const pkg = path.join(modules, 'dynamics-odata');
  mkdirSync(pkg);
  cpSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  cpSync(DIST, path.join(pkg, 'dist'), { recursive: true });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Packs the package as `npm publish` would (`npm pack`: only what package.json's `files` lists) and
 * returns the tarball's path inside `into`.
 */
export function packTarball(into: string): string {
  const out = execFileSync('npm', ['pack', '--pack-destination', into, '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out) as Array<{ filename: string }>;
  return path.join(into, info.filename);
}

/**
 * A scratch application whose `node_modules/dynamics-odata` is the packed tarball, extracted, and
 * whose other packages link to this repository's (optionally without `@nestjs/*`).
 */
export function scratchFromTarball(tarball: string, options: { withNest: boolean; esm?: boolean }): ScratchInstall {
  const dir = mkdtempSync(path.join(tmpdir(), options.withNest ? 'dynamics-odata-types-' : 'dynamics-odata-types-no-nest-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true, ...(options.esm ? { type: 'module' } : {}) }));
  const modules = path.join(dir, 'node_modules');
  mkdirSync(modules);
  const source = path.join(ROOT, 'node_modules');
  for (const entry of readdirSync(source)) {
    if (entry.startsWith('.') || entry === 'dynamics-odata') continue;
    if (!options.withNest && entry === '@nestjs') continue;
    symlinkSync(path.join(source, entry), path.join(modules, entry), 'dir');
  }
  const pkg = path.join(modules, 'dynamics-odata');
  mkdirSync(pkg);
  execFileSync('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1']);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
