/**
 * Debian's Chromium, driven by playwright-core (never a downloaded browser), with the flags this
 * machine's closed network needs: without the background-networking ones Chromium keeps trying
 * (and failing) to reach Google's hosts.
 */
import { existsSync } from 'node:fs'

import { type Browser, chromium } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Why the browser tests skip (no Chromium, outside CI), or false: under CI=true they always run. */
export const skipBrowser: string | false =
  !existsSync(CHROMIUM) && process.env.CI !== 'true'
    ? `no Chromium at ${CHROMIUM} (apt-get install chromium); browser tests skipped outside CI`
    : false

export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] })
}
