// The Video tab of a running fer-video app, timed in headless Chromium (scripts/bench_app_video.py).
//
//   node video_bench.mjs --url http://127.0.0.1:7860/ --video clip.mp4 \
//                        --progress-shot progress.png --result-shot result.png [--chromium /usr/bin/chromium]
//
// Uploads --video, presses "Analyse video", saves a picture of the page once the progress bar
// passes --progress-at % and another with the result, and prints one JSON line: what the tab
// showed and `seconds` from the click to the result. On failure prints the reason and exits 1.

import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { analyseVideo, openBrowser } from './gradio_app.mjs';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    video: { type: 'string' },
    'progress-shot': { type: 'string' },
    'result-shot': { type: 'string' },
    'progress-at': { type: 'string', default: '20' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    timeout: { type: 'string', default: '3600000' },
  },
});
for (const name of ['url', 'video', 'progress-shot', 'result-shot']) {
  if (!opts[name]) {
    console.error(`video_bench.mjs: --${name} is required`);
    process.exit(2);
  }
}
const timeout = Number(opts.timeout);

let browser;
try {
  browser = await openBrowser(opts.chromium, { timeout });
  const { page } = browser;
  await page.goto(opts.url, { waitUntil: 'domcontentloaded' });
  const shown = await analyseVideo(page, opts.video, {
    timeout, progressShot: opts['progress-shot'], progressAt: Number(opts['progress-at']),
  });
  await page.screenshot({ path: opts['result-shot'], fullPage: true });
  console.log(JSON.stringify(shown));
} catch (error) {
  console.error(`video_bench.mjs: ${error.message.split('\n')[0]}`);
  process.exitCode = 1;
} finally {
  await browser?.context.close();
  if (browser) rmSync(browser.scratch, { recursive: true, force: true });
}
