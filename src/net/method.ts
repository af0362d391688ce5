/** The HTTP methods the Web API and the token endpoint use: the one method type of the library. */
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** Every {@link HttpMethod}, for validation. */
export const HTTP_METHODS: readonly HttpMethod[] = Object.freeze(['GET', 'POST', 'PATCH', 'PUT', 'DELETE']);

/** True when `value` is one of {@link HTTP_METHODS} (upper case). */
export function isHttpMethod(value: unknown): value is HttpMethod {
  return typeof value === 'string' && (HTTP_METHODS as readonly string[]).includes(value);
}
