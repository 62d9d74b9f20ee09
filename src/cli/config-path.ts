/**
 * Which config file a `shepherd` command uses when `-c` is not given.
 * @module
 */

/** The config file of the plan, relative to the working directory. */
export const DEFAULT_CONFIG_PATH = './config/worker_recovery.yaml'

/** The environment variable that names the config file when `-c` is not given. */
export const CONFIG_ENV_VAR = 'SHEPHERD_CONFIG'

/**
 * The config file to use: `-c FILE` when given, else `$SHEPHERD_CONFIG` when set and not empty,
 * else {@link DEFAULT_CONFIG_PATH}. The path is returned as given; loading resolves it.
 * @example
 * ```ts
 * resolveConfigPath(undefined, { SHEPHERD_CONFIG: '/etc/shepherd.yaml' }) // '/etc/shepherd.yaml'
 * ```
 */
export function resolveConfigPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined && option !== '') return option
  const fromEnv = env[CONFIG_ENV_VAR]
  if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv
  return DEFAULT_CONFIG_PATH
}
