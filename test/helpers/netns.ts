/**
 * A host of its own for a test, on this machine: a network namespace joined to the machine by a
 * veth pair (`<host side> 10.213.<k>.1/30` ↔ `10.213.<k>.2/30` inside), so that a process started
 * in it (`ip netns exec`) reaches a server listening on the host side's address, and the test can
 * cut that link (`ip link set <host side> down`) and restore it. The namespace and its processes
 * are removed after the test.
 *
 * Needs root and iproute2; where they are missing the test is skipped with the reason, except
 * under CI=true, where it fails.
 */
import { execFile } from 'node:child_process'
import type { TestContext } from 'node:test'
import { promisify } from 'node:util'

const exec = promisify(execFile)

export interface NetnsHost {
  /** The namespace's name (`ip netns exec <name> …`). */
  readonly name: string
  /** The host side's address: what a process in the namespace connects to. */
  readonly hostAddress: string
  /** The namespace side's address. */
  readonly address: string
  /** The subnet of the pair (for pg_hba.conf). */
  readonly subnet: string
  /** The command prefix that runs a program in the namespace. */
  readonly prefix: string[]
  /** Takes the link down: the namespace can reach nothing outside it. */
  cut(): Promise<void>
  /** Brings the link back. */
  restore(): Promise<void>
}

let checked: Promise<string | null> | null = null

/** Why namespaces cannot be made here, or null. Under CI=true, a reason is an error. */
export function netnsSkipReason(): Promise<string | null> {
  checked ??= (async () => {
    let why: string | null = null
    if (process.getuid?.() !== 0) why = 'network namespaces need root'
    else {
      try {
        await exec('ip', ['netns', 'list'])
      } catch (e) {
        why = `iproute2 cannot list network namespaces (${(e as Error).message.split('\n')[0]})`
      }
    }
    if (why !== null && process.env.CI === 'true') {
      throw new Error(`${why}; CI=true, so the tests that cut a host off may not be skipped`)
    }
    return why
  })()
  return checked
}

const ip = (...args: string[]) => exec('ip', args)

/** Makes a namespace joined to the machine by a veth pair; removed (with its processes) after the test. */
export async function createNetnsHost(t: TestContext): Promise<NetnsHost> {
  const k = (process.pid + Math.floor(Math.random() * 250)) % 250
  const id = `${process.pid % 10_000}${Math.random().toString(36).slice(2, 5)}`
  const name = `shep-${id}`
  const outside = `shv${id}`.slice(0, 15)
  const inside = `shn${id}`.slice(0, 15)
  const hostAddress = `10.213.${k}.1`
  const address = `10.213.${k}.2`
  const inNs = (...args: string[]) => ip('netns', 'exec', name, 'ip', ...args)
  await ip('netns', 'add', name)
  t.after(async () => {
    const pids = (await ip('netns', 'pids', name).catch(() => ({ stdout: '' }))).stdout
      .split(/\s+/)
      .filter(Boolean)
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {
        // gone already
      }
    }
    await ip('link', 'del', outside).catch(() => undefined)
    await ip('netns', 'del', name).catch(() => undefined)
  })
  await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside)
  await ip('link', 'set', inside, 'netns', name)
  await ip('addr', 'add', `${hostAddress}/30`, 'dev', outside)
  await ip('link', 'set', outside, 'up')
  await inNs('addr', 'add', `${address}/30`, 'dev', inside)
  await inNs('link', 'set', inside, 'up')
  await inNs('link', 'set', 'lo', 'up')
  return {
    name,
    hostAddress,
    address,
    subnet: `10.213.${k}.0/30`,
    prefix: ['ip', 'netns', 'exec', name],
    cut: async () => void (await ip('link', 'set', outside, 'down')),
    restore: async () => void (await ip('link', 'set', outside, 'up')),
  }
}
