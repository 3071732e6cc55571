#!/usr/bin/env node
// Launcher for the `icl-lab` command. Plain JavaScript so that any Node can run it far enough to say which Node
// the project needs; the pipeline itself is TypeScript run by Node >= 22.18's built-in type stripping.

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `icl-lab needs Node.js >= 22.18 (this is ${process.version}).\n` +
      'The project installs a suitable Node into node_modules: run commands through npm, e.g.\n' +
      '  npm run lab -- --help\n' +
      'or put node_modules/.bin first on your PATH, or install Node 22 LTS yourself.\n',
  );
  process.exit(1);
}

const { main } = await import('../pipeline/cli.ts');
process.exitCode = await main(process.argv.slice(2));
