/**
 * The guardian: a small `/bin/sh` process that outlives the supervisor by design, to stop the
 * supervisor's workers when the supervisor dies without doing it itself (SIGKILL, the OOM killer,
 * a crash in native code). No code of a process killed with SIGKILL runs, so the stop has to come
 * from outside it.
 *
 * The supervisor holds the write end of a pipe whose read end is the guardian's stdin; the kernel
 * closes it when the supervisor dies, however it dies, and the guardian reads end-of-file. Node
 * opens every pipe close-on-exec, so no worker inherits that write end and keeps it open. The
 * guardian runs in its own session and process group: a SIGKILL to the supervisor's group, or a
 * terminal's ^C, does not reach it.
 *
 * On end-of-file it sends SIGTERM and SIGCONT to everything it guards, waits up to
 * {@link GUARDIAN_GRACE_S} for it to exit, SIGKILLs the rest, and (with cgroups) removes the
 * supervisor's cgroup. It guards either a cgroup (every process in it, setsid or not) or the
 * process groups the supervisor names on the pipe (`+<pgid>` when a worker starts, `-<pgid>` once
 * it is gone).
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process'
import type { Socket } from 'node:net'

/**
 * Seconds the guarded processes get to exit after SIGTERM: SDK workers run their stop handlers
 * (they saw the IPC channel close too); the next supervisor gives orphans the same 5 s.
 */
export const GUARDIAN_GRACE_S = 5

/** A guardian that exits sooner than this after starting is broken, not killed: no restart. */
const MIN_GUARDIAN_LIFE_MS = 1_000

/** What the guardian stops when the supervisor dies. */
export type GuardianTarget = { cgroup: string } | { groups: true }

export interface Guardian {
  /** The guardian's pid, null while none runs. */
  readonly pid: number | null
  /** Adds a process group to stop (only with `{ groups: true }`). */
  watchGroup(pgid: number): void
  /** Removes a process group that is gone (before its number can be reused). */
  forgetGroup(pgid: number): void
  /**
   * Ends the pipe: the guardian stops whatever is left and exits. The supervisor calls it after
   * stopping its workers, so there is nothing left.
   */
  close(): void
}

/**
 * The guardian's script; $1 is `cgroup` or `groups`, $2 the cgroup, $3 the grace in seconds. Only
 * POSIX sh and its builtins, plus `sleep` and `rmdir`. It refuses a cgroup path that is not a
 * Shepherd one, so that a wrong argument can never make it kill anything else.
 */
export const GUARDIAN_SCRIPT = `
mode=$1 root=$2 grace=$3 groups=' '
if [ "$mode" = cgroup ]; then
  case $root in /*/shepherd/*) ;; *) exit 2 ;; esac
fi
while IFS= read -r line; do
  case $line in
  +*) groups="$groups\${line#+} " ;;
  -*)
    id=\${line#-}
    case $groups in *" $id "*) groups="\${groups%% $id *} \${groups#* $id }" ;; esac
    ;;
  esac
done
signal_all() {
  if [ "$mode" = cgroup ]; then
    for procs in "$root"/*/cgroup.procs; do
      [ -r "$procs" ] || continue
      while read -r pid; do kill -s "$1" "$pid" 2>/dev/null; done <"$procs"
    done
  else
    for g in $groups; do kill -s "$1" -- "-$g" 2>/dev/null; done
  fi
}
alive() {
  if [ "$mode" = cgroup ]; then
    [ -r "$root/cgroup.events" ] || return 1
    while read -r key value; do
      if [ "$key" = populated ]; then [ "$value" = 1 ]; return; fi
    done <"$root/cgroup.events"
    return 1
  fi
  for g in $groups; do kill -s 0 -- "-$g" 2>/dev/null && return 0; done
  return 1
}
wait_gone() {
  waited=0
  while alive && [ "$waited" -lt "$1" ]; do sleep 1; waited=$((waited + 1)); done
}
if alive; then
  signal_all TERM
  signal_all CONT
  wait_gone "$grace"
fi
if [ "$mode" = cgroup ]; then
  if [ -e "$root/cgroup.kill" ]; then
    echo 1 >"$root/cgroup.kill"
  elif echo 1 >"$root/cgroup.freeze"; then
    signal_all KILL
    echo 0 >"$root/cgroup.freeze"
  fi
  wait_gone 10
  for leaf in "$root"/*/; do rmdir "$leaf" 2>/dev/null; done
  rmdir "$root" 2>/dev/null
else
  signal_all KILL
fi
exit 0
`

/**
 * Starts a guardian. `warn` hears about a guardian that exits while the supervisor lives (someone
 * killed it): a new one is started at once, unless the last one died within a second of its start,
 * which says it cannot run here (then workers are no longer tied to the supervisor's life, and
 * `warn` says so).
 */
export function startGuardian(target: GuardianTarget, warn: (message: string) => void): Guardian {
  return new GuardianProcess(target, warn)
}

class GuardianProcess implements Guardian {
  private child: ChildProcess | null = null
  private startedAt = 0
  private closed = false
  private readonly groups = new Set<number>()

  constructor(
    private readonly target: GuardianTarget,
    private readonly warn: (message: string) => void,
  ) {
    this.launch()
  }

  get pid(): number | null {
    return this.child?.pid ?? null
  }

  watchGroup(pgid: number): void {
    if (!('groups' in this.target) || !Number.isInteger(pgid) || pgid <= 0) return
    this.groups.add(pgid)
    this.write(`+${pgid}`)
  }

  forgetGroup(pgid: number): void {
    if (!this.groups.delete(pgid)) return
    this.write(`-${pgid}`)
  }

  close(): void {
    this.closed = true
    this.child?.stdin?.end()
  }

  private launch(): void {
    const args =
      'cgroup' in this.target
        ? ['cgroup', this.target.cgroup, String(GUARDIAN_GRACE_S)]
        : ['groups', '', String(GUARDIAN_GRACE_S)]
    // The script travels in the environment, so that ps shows one short line:
    // /bin/sh -c eval "$SHEPHERD_GUARDIAN" shepherd-guardian cgroup /sys/fs/cgroup/…/shepherd/…
    // It gets nothing else of the supervisor's environment (no API token), only PATH.
    const child = spawn('/bin/sh', ['-c', 'eval "$SHEPHERD_GUARDIAN"', 'shepherd-guardian', ...args], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SHEPHERD_GUARDIAN: GUARDIAN_SCRIPT },
    })
    this.child = child
    this.startedAt = Date.now()
    child.on('error', (err) => this.lost(child, `could not start: ${err.message}`))
    child.on('exit', (code, signal) => this.lost(child, signal ? `killed by ${signal}` : `exit code ${code}`))
    // A write to a guardian that just died fails with EPIPE; its 'exit' tells the story.
    child.stdin?.on('error', () => undefined)
    // Neither the guardian nor its pipe keeps the supervisor's event loop alive.
    child.unref()
    ;(child.stdin as Socket | null)?.unref()
    for (const pgid of this.groups) this.write(`+${pgid}`)
  }

  private lost(child: ChildProcess, why: string): void {
    if (this.child !== child) return
    this.child = null
    if (this.closed) return
    if (Date.now() - this.startedAt < MIN_GUARDIAN_LIFE_MS) {
      this.warn(
        `the guardian (/bin/sh) ${why} at once: workers are not stopped if the supervisor is killed with SIGKILL`,
      )
      return
    }
    this.warn(`the guardian (pid ${child.pid}) ${why}; starting another`)
    this.launch()
  }

  private write(line: string): void {
    const stdin = this.child?.stdin
    if (stdin && !stdin.destroyed) stdin.write(`${line}\n`)
  }
}
