/**
 * Live generation's authentication is wired by the entry point, not loaded by the generator: the
 * generator only calls the environment token source it is given, and `dynamics-odata/codegen`'s
 * `generate` gives it one that reads the DYNAMICS_* variables.
 */
import { CodegenError, generate } from '../../src/codegen';
import { generateWith, type EnvironmentTokenSource } from '../../src/codegen/generate';

const URL_ = 'https://contoso.crm4.dynamics.com/';

it('without auth or an environment token source, live generation is an invalid_option naming auth', async () => {
  const err = await generateWith({ url: URL_, write: false }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CodegenError);
  expect(err).toMatchObject({ code: 'invalid_option', message: expect.stringMatching(/^auth: /) });
});

it('asks the environment token source for the environment origin, with the env option', async () => {
  const calls: [Record<string, string | undefined>, string][] = [];
  const stop = new Error('stop before the network');
  const source: EnvironmentTokenSource = async (env, resource) => {
    calls.push([env, resource]);
    throw stop;
  };
  const env = { DYNAMICS_CLIENT_ID: 'x' };
  await expect(generateWith({ url: URL_, env, write: false }, source)).rejects.toBe(stop);
  expect(calls).toEqual([[env, 'https://contoso.crm4.dynamics.com']]);
});

it('an explicit auth wins: the environment is not read', async () => {
  const source: EnvironmentTokenSource = async () => {
    throw new Error('the environment was read');
  };
  const stop = new Error('token asked');
  await expect(generateWith({ url: URL_, auth: { getToken: () => Promise.reject(stop) }, write: false }, source)).rejects.toBe(stop);
});

it('the package entry reads the DYNAMICS_* variables (a missing one is named, no secret printed)', async () => {
  const err = await generate({ url: URL_, env: { DYNAMICS_CLIENT_SECRET: 'hunter2-codegen-secret' }, write: false }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(CodegenError);
  expect(String((err as Error).message)).toMatch(/DYNAMICS_CLIENT_ID|AZURE_CLIENT_ID/);
  expect(String((err as Error).message)).not.toContain('hunter2-codegen-secret');
});
