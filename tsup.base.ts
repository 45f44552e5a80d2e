// How every package is built, in one place: ESM for Node 20 with declarations and source maps. A package's
// tsup.config.ts names only its entries beyond src/index.ts (a worker, a second export).
import { defineConfig } from 'tsup';

export function packageConfig(entry: string[] = ['src/index.ts']): ReturnType<typeof defineConfig> {
  return defineConfig({ entry, format: ['esm'], dts: true, clean: true, sourcemap: true, target: 'node20' });
}
