/**
 * Path globs for blocklists and mutable-path lists: `**` matches across '/', `*` and `?` do not.
 * A pattern without '/' matches the last path segment anywhere (like .gitignore), so `*.exe` blocks
 * every .exe file.
 */
export function globToRegExp(glob: string): RegExp {
  const anchored = glob.includes('/');
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(anchored ? `^/?${re.replace(/^\//, '')}$` : `(?:^|/)${re}$`);
}

export class GlobSet {
  private readonly res: RegExp[];
  constructor(globs: readonly string[] = []) {
    this.res = globs.map(globToRegExp);
  }
  get empty(): boolean {
    return this.res.length === 0;
  }
  matches(path: string): boolean {
    for (const re of this.res) if (re.test(path)) return true;
    return false;
  }
}
