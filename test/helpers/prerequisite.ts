/**
 * Suites that need something outside the repository (a `redis-server` binary, a built `dist/`).
 * On a developer's machine a missing prerequisite skips the suite with the reason in its title; under
 * CI (`CI` set, as every CI service does) it fails instead, so a broken CI image cannot turn a suite
 * into a silent pass.
 */

/** True when the `CI` variable says we run under continuous integration (`CI=false` and `CI=0` do not). */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.CI ?? '').trim().toLowerCase();
  return value !== '' && value !== 'false' && value !== '0';
}

/**
 * `describe` when `missing` is undefined. Otherwise, outside CI, `describe.skip` with the reason in the
 * title; under CI, a suite whose one test fails with the reason.
 */
export function describeIfAvailable(missing: string | undefined, env: NodeJS.ProcessEnv = process.env): (name: string, fn: () => void) => void {
  if (missing === undefined) return (name, fn) => describe(name, fn);
  if (!underCi(env)) return (name, fn) => describe.skip(`${name} (skipped: ${missing})`, fn);
  return (name) =>
    describe(name, () => {
      it('has its prerequisite', () => {
        throw new Error(`${missing}. CI is set, so this suite must run instead of being skipped.`);
      });
    });
}
