#!/usr/bin/env node
// Entry for `npx dora`: runs the TypeScript sources directly through tsx's loader,
// so a checkout needs no build step.
import { register } from 'tsx/esm/api'
// onnxruntime-node (1.30 on Linux and macOS) sends usage telemetry to Microsoft, keeps a device id and
// an event cache under ~/.cache/Microsoft and a log file in /tmp unless ORT_DISABLE_TELEMETRY is set
// before its first session: Dora's hub and devices stay off the internet unless the user sets it to 0.
process.env.ORT_DISABLE_TELEMETRY ??= '1'
// A child of `dora demo` (started with an IPC channel) leaves with its parent, even while it is
// still loading; once running, its command takes over with a clean stop (src/cli/shutdown.ts).
if (process.channel) {
  const early = () => process.exit(129)
  early.doraEarlyStop = true
  process.once('disconnect', early)
  process.channel.unref()
}
register()
// `dora profile ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})
const { main } = await import('../src/cli/main.ts')
// a command that has returned has nothing left to do: a reconnecting client or an open channel
// must not keep the process (stdout and stderr to pipes and files are written synchronously)
process.exit(await main(process.argv.slice(2)))
