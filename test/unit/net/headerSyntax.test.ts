import { HEADER_NAME_PATTERN, isHeaderName, isHeaderValue } from '../../../src/net/headerSyntax';

describe('header names (RFC 9110 token)', () => {
  it.each(['Accept', 'If-None-Match', 'MSCRM.BypassCustomPluginExecution', "x!#$%&'*+-.^_`|~9"])('accepts %p', (name) => {
    expect(isHeaderName(name)).toBe(true);
    expect(HEADER_NAME_PATTERN.test(name)).toBe(true);
  });

  it.each(['', 'X A', 'X:A', 'X\r\nY', 'Ä', '(x)', 'a"b', undefined, 5])('refuses %p', (name) => {
    expect(isHeaderName(name)).toBe(false);
  });
});

describe('header values', () => {
  it.each(['', 'W/"12345"', 'odata.include-annotations="*"', 'a\tb', 'é ü'])('accepts %p', (value) => {
    expect(isHeaderValue(value)).toBe(true);
  });

  it.each(['a\r\nX-Injected: 1', 'a\nb', 'a\rb', 'a\0b', 'a\u0001b', 'a\u001fb', 'a\u007fb', undefined, 5])('refuses %p', (value) => {
    expect(isHeaderValue(value)).toBe(false);
  });
});
