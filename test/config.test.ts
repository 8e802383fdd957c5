import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_V8_FLAGS, loadConfig } from '../src/config.js';

describe('ARTIFACTAPI_V8_FLAGS', () => {
  it('defaults to concurrent and incremental marking off, takes a list, and an empty value sets none', () => {
    expect(DEFAULT_V8_FLAGS).toBe('--no-concurrent-marking --no-incremental-marking');
    expect(loadConfig({}).v8Flags).toEqual(['--no-concurrent-marking', '--no-incremental-marking']);
    expect(loadConfig({ ARTIFACTAPI_V8_FLAGS: ' --max-semi-space-size=32  --no-concurrent-marking ' }).v8Flags).toEqual(['--max-semi-space-size=32', '--no-concurrent-marking']);
    expect(loadConfig({ ARTIFACTAPI_V8_FLAGS: '' }).v8Flags).toEqual([]);
  });

  it('refuses anything that is not a V8 option', () => {
    for (const bad of ['no-dashes', '--flag;rm', '--a=b c=d', '-x']) {
      expect(() => loadConfig({ ARTIFACTAPI_V8_FLAGS: bad })).toThrow(ConfigError);
    }
  });
});
