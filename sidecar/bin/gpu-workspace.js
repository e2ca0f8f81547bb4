#!/usr/bin/env node
'use strict';
// Thin launcher so `npx gpu-workspace` works from the repository root once built.
try {
  require('../dist/cli/main.js').main(process.argv.slice(2));
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('gpu-workspace: the sidecar is not built yet. Run `npm run build` in the repository root first.');
    process.exit(2);
  }
  throw err;
}
