#!/usr/bin/env node
import { basename } from 'node:path';
import { main } from '../dist/index.js';

const recipe = basename(process.argv[1] ?? 'auto-round').replace(/\.js$/, '');
process.exitCode = await main(process.argv.slice(2), recipe);
