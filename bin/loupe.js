#!/usr/bin/env node
// The `loupe` command. The TypeScript is compiled to dist/ by `make setup`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('loupe: not built yet; run `make setup` in the repository first');
  process.exitCode = 4;
} else {
  const { main } = await import(entry.href);
  process.exitCode = await main(process.argv);
}
