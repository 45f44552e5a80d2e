import { main } from '../src/index.js';

/** Runs the CLI in this process and collects what it prints. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, 'auto-round', { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const ENTRY = new URL('../src/index.ts', import.meta.url).pathname;
const RUNNER = `const { main } = await import(${JSON.stringify(ENTRY)}); process.exitCode = await main(process.argv.slice(1), 'auto-round');`;

/**
 * Runs the CLI from its sources in a child process, as a user's shell would: the real exit code and
 * stderr, and the installed plugins it discovers (SignRound, the dataset readers, export-gguf), which
 * an in-process run under vitest cannot load from their built dist.
 */
export async function runCliProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const { spawn } = await import('node:child_process');
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', RUNNER, '--', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((res, rej) => {
    proc.once('error', rej);
    proc.once('close', (c) => res(c));
  });
  return { code, out, err };
}
