/** DynamicsService's fleet limiter switch: on with DYNAMICS_REDIS_URL, off with DYNAMICS_REDIS_THROTTLE=false or `throttle: false`. */
import { ConfigurationError } from '../../../src/errors';
import { DYNAMICS_ENV, resolveServiceConfig } from '../../../src/compat/config';

const env = {
  DYNAMICS_TOKEN_URL: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token',
  DYNAMICS_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
  DYNAMICS_CLIENT_SECRET: 'sup3r-s3cret-value',
  DYNAMICS_RESOURCE: 'https://contoso.crm4.dynamics.com',
};
const stub = { acquire: async () => ({ scope: 's' }), settle: () => undefined, close: async () => undefined };

describe('the fleet limiter of DynamicsService', () => {
  it('is built from DYNAMICS_REDIS_URL unless switched off', () => {
    expect(DYNAMICS_ENV.redisThrottle).toBe('DYNAMICS_REDIS_THROTTLE');
    expect(resolveServiceConfig({}, env).redisThrottle).toBe(false);
    const withRedis = { ...env, DYNAMICS_REDIS_URL: 'redis://127.0.0.1:6379' };
    expect(resolveServiceConfig({}, withRedis).redisThrottle).toBe(true);
    expect(resolveServiceConfig({}, { ...withRedis, DYNAMICS_REDIS_THROTTLE: 'true' }).redisThrottle).toBe(true);
    expect(resolveServiceConfig({}, { ...withRedis, DYNAMICS_REDIS_THROTTLE: 'false' }).redisThrottle).toBe(false);
    expect(resolveServiceConfig({ throttle: false }, withRedis).redisThrottle).toBe(false);
    // A limiter given in code replaces the one the variable would build.
    expect(resolveServiceConfig({ throttle: stub }, withRedis).redisThrottle).toBe(false);
  });

  it('names DYNAMICS_REDIS_THROTTLE when it is neither true nor false', () => {
    let error: unknown;
    try {
      resolveServiceConfig({}, { ...env, DYNAMICS_REDIS_URL: 'redis://127.0.0.1:6379', DYNAMICS_REDIS_THROTTLE: 'off' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues).toEqual([{ name: 'DYNAMICS_REDIS_THROTTLE', expected: expect.stringContaining('"false"') }]);
  });

  it('checks the Redis URL when the limiter needs it, even with a token cache given in code', () => {
    const cache = { beforeCacheAccess: async () => undefined, afterCacheAccess: async () => undefined };
    expect(() => resolveServiceConfig({ tokenCache: cache }, { ...env, DYNAMICS_REDIS_URL: 'http://nope' })).toThrow(/DYNAMICS_REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => resolveServiceConfig({ tokenCache: cache }, { ...env, DYNAMICS_REDIS_URL: 'http://nope', DYNAMICS_REDIS_THROTTLE: 'false' })).not.toThrow();
  });

  it('refuses a throttle option that is not a limiter', () => {
    expect(() => resolveServiceConfig({ throttle: { acquire: 1 } as never }, env)).toThrow(/throttle: expected a fleet limiter/);
  });
});
