// Compile-time contract of DynamicsService, checked by tsc in test/loopback/nest-migration.test.ts
// (jest runs transpile-only, so type assertions there could not fail).
import type { AxiosRequestConfig } from 'axios';
import { expectTypeOf } from 'expect-type';
import { DynamicsService, type DynamicsRequestConfig, type ITokenSet } from 'dynamics-odata';

declare const dynamics: DynamicsService;
declare const axiosConfig: AxiosRequestConfig;

// Code written against @edirect/dynamics passes AxiosRequestConfig values.
expectTypeOf<AxiosRequestConfig>().toMatchTypeOf<DynamicsRequestConfig>();
void dynamics.get('api/data/v9.2/accounts', axiosConfig);
void dynamics.post('api/data/v9.2/accounts', { name: 'x' }, axiosConfig, 'client_credentials');

// Every call is Promise<object | null>, narrowable with a type argument.
expectTypeOf(dynamics.get('x')).toEqualTypeOf<Promise<object | null>>();
expectTypeOf(dynamics.patch('x', {})).toEqualTypeOf<Promise<object | null>>();
expectTypeOf(dynamics.delete('x')).toEqualTypeOf<Promise<object | null>>();
expectTypeOf(dynamics.get<{ value: Array<{ name: string }> }>('x')).toEqualTypeOf<Promise<{ value: Array<{ name: string }> } | null>>();
expectTypeOf(dynamics.getAccessToken()).toEqualTypeOf<Promise<ITokenSet | null>>();
expectTypeOf<ITokenSet['expires_on']>().toEqualTypeOf<string>();

// @ts-expect-error grantType is 'password' or 'client_credentials'
void dynamics.get('x', undefined, 'refresh_token');
// @ts-expect-error an option that is not honoured is refused in an object literal
void dynamics.get('x', { validateStatus: () => true });
