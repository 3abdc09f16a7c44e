#!/usr/bin/env node
// Entry for `npx dora`: runs the TypeScript sources directly through tsx's loader,
// so a checkout needs no build step.
import { register } from 'tsx/esm/api'
register()
// `dora profile ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
