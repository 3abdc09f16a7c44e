/** The `dora` command line: sub-commands, each with --help. Returns the process exit code. */
import { Command, CommanderError } from 'commander'
import { DoraError } from '../errors.js'
import { registerHubCommand } from './hub-command.js'
import { registerModelCommands } from './model-commands.js'
import { registerPlanCommand } from './plan-command.js'
import { registerSimulateCommand } from './simulate-command.js'
import { registerDeviceCommand } from './device-command.js'
import { registerJobCommand } from './job-command.js'
import { registerDemoCommand } from './demo-command.js'
import { registerMosquittoCommand } from './mosquitto-command.js'

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0
  const program = new Command()
    .name('dora')
    .description('Dora: run AI models across the ordinary devices of a home, a street corner or a small edge cluster')
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
  registerHubCommand(program, (code) => (exitCode = code))
  registerModelCommands(program)
  registerPlanCommand(program, (code) => (exitCode = code))
  registerSimulateCommand(program, (code) => (exitCode = code))
  registerDeviceCommand(program)
  registerJobCommand(program, (code) => (exitCode = code))
  registerDemoCommand(program, (code) => (exitCode = code))
  registerMosquittoCommand(program)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return exitCode
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode
    if (err instanceof DoraError) {
      process.stderr.write(`dora: ${err.message} [${err.code}]\n`)
      return 1
    }
    process.stderr.write(`dora: unexpected error: ${(err as Error).stack ?? String(err)}\n`)
    return 70
  }
}
