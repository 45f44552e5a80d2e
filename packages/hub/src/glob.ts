/**
 * fnmatch-style patterns as huggingface_hub applies them to repository paths: `*` and `?` match any
 * character, `/` included; `[abc]` / `[!abc]` are classes; a pattern ending in `/` means everything under it.
 */
export function globToRegExp(pattern: string): RegExp {
  let p = pattern;
  if (p.endsWith('/')) p += '*';
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = p.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$', 's');
}

/** Keeps the paths that match one of `allow` (all when absent) and none of `ignore`. */
export function filterPaths(paths: readonly string[], allow?: readonly string[] | string, ignore?: readonly string[] | string): string[] {
  const a = (typeof allow === 'string' ? [allow] : allow)?.map(globToRegExp);
  const ig = (typeof ignore === 'string' ? [ignore] : ignore ?? []).map(globToRegExp);
  return paths.filter((p) => (!a || a.some((r) => r.test(p))) && !ig.some((r) => r.test(p)));
}
