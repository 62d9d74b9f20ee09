/**
 * CPU use from cumulative tick counts: percent of one core between samples, and CPU seconds.
 * @module
 */

/**
 * Clock ticks per second of the utime/stime fields in /proc/<pid>/stat. This is USER_HZ, which
 * the kernel fixes at 100 in its user ABI on every mainstream architecture (x86, arm, arm64,
 * riscv) whatever CONFIG_HZ is, so it is a constant rather than a `getconf CLK_TCK` subprocess.
 */
export const CLK_TCK = 100

/**
 * Turns cumulative CPU ticks into percent of one core (100 = one core busy, 200 = two) between
 * consecutive samples of the same key (a worker id or pid).
 */
export class CpuMeter {
  private readonly last = new Map<string | number, { ticks: number; atMs: number }>()

  /**
   * Records a sample and returns the CPU percent since the previous one for `key`; null on the
   * first sample or when no time has passed. A tree's ticks drop when a member exits (its time
   * leaves the sum), so negative deltas count as 0 rather than as negative load.
   */
  sample(key: string | number, cpuTicks: number, atMs: number): number | null {
    return this.measure(key, cpuTicks, atMs).percent
  }

  /**
   * Like {@link sample}, and also the CPU seconds used since the previous sample of `key`, or since
   * the tree started on its first sample (its ticks are all its own), for counters of CPU time.
   * Time of members that exited between two samples is not seen.
   */
  measure(key: string | number, cpuTicks: number, atMs: number): { percent: number | null; seconds: number } {
    const prev = this.last.get(key)
    this.last.set(key, { ticks: cpuTicks, atMs })
    if (!prev) return { percent: null, seconds: cpuTicks / CLK_TCK }
    const seconds = Math.max(0, cpuTicks - prev.ticks) / CLK_TCK
    if (atMs <= prev.atMs) return { percent: null, seconds }
    return { percent: (seconds / ((atMs - prev.atMs) / 1000)) * 100, seconds }
  }

  /** Drops the history of a key (the worker is gone; its pid may come back as someone else). */
  forget(key: string | number): void {
    this.last.delete(key)
  }
}
