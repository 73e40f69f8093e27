// microlink's `browserless` library as a screenshot service's users would run it: one browser,
// a context per capture (createContext / destroyContext), `screenshot(url)` with a 1280x800
// viewport, waiting for load. Launched on the Chromium build the service launches.
//
//   node run.js URLS_FILE CONCURRENCY CHROMIUM_PATH
//
// Prints one JSON line: {"seconds": <the captures, launch excluded>, "ok": <captures>}.
'use strict'

const fs = require('fs')
const createBrowser = require('browserless')

const [urlsFile, concurrency, executablePath] = process.argv.slice(2)
const urls = fs.readFileSync(urlsFile, 'utf8').split('\n').filter(Boolean)

const main = async () => {
  const browser = createBrowser({ executablePath, headless: 'shell', timeout: 30000 })
  await browser.browser() // launched before the clock starts, as for the other scripts
  let ok = 0
  const queue = [...urls]
  const worker = async () => {
    while (queue.length) {
      const url = queue.shift()
      const context = await browser.createContext()
      try {
        await context.screenshot(url, {
          type: 'png',
          waitUntil: 'load',
          viewport: { width: 1280, height: 800, deviceScaleFactor: 1 }
        })
        ok += 1
      } finally {
        await context.destroyContext()
      }
    }
  }
  const started = process.hrtime.bigint()
  await Promise.all(Array.from({ length: Number(concurrency) }, worker))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  console.log(JSON.stringify({ seconds, ok }))
  await browser.close()
}

main().catch(error => {
  console.error(error)
  process.exit(1)
})
