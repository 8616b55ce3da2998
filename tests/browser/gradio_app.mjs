// What app_e2e.mjs (the browser test) and video_bench.mjs (scripts/bench_app_video.py) share:
// starting headless Chromium, waiting for the page with a named reason, and the Video tab.

import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// No network here: these flags stop Chromium from stalling on connections it would make.
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** A headless Chromium with a fresh profile in a scratch folder; `camera`: a .y4m file played
 *  as the webcam. Returns { context, page, scratch }. */
export async function openBrowser(executablePath, { camera = null, timeout = 120000 } = {}) {
  const scratch = mkdtempSync(path.join(tmpdir(), 'fer-video-browser-'));
  const args = [...CHROMIUM_ARGS];
  if (camera) {
    args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream');
    args.push(`--use-file-for-fake-video-capture=${path.resolve(camera)}`);
  }
  const context = await chromium.launchPersistentContext(path.join(scratch, 'chromium'), {
    executablePath,
    headless: true,
    args,
    viewport: { width: 1100, height: 900 },
    permissions: camera ? ['camera'] : [],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  return { context, page, scratch };
}

/** Wait for `locator`; on timeout the error names `what` was awaited. */
export async function waitFor(locator, what, timeout, state = 'visible') {
  try {
    await locator.waitFor({ state, timeout });
  } catch (error) {
    throw new Error(`${what}: not ${state} after ${timeout / 1000} s`);
  }
}

/** The text of the first toast (gr.Error / gr.Warning / upload refusal) matching `pattern`. */
export async function toast(page, pattern, timeout) {
  const message = page.locator('[data-testid=toast-body], .toast-body').filter({ hasText: pattern }).first();
  await waitFor(message, `a message matching ${pattern}`, timeout);
  return (await message.innerText()).replace(/\s+/g, ' ').trim();
}

/** The Video tab, from upload to result: picks `file`, presses "Analyse video" and waits for
 *  the annotated player and the CSV link, noting each progress figure the page shows (and,
 *  with `progressShot`, saving a picture of the page once the progress reaches `progressAt` %).
 *  Returns what the tab showed and `seconds`, from the click to the CSV link. */
export async function analyseVideo(page, file, { timeout, progressShot = null, progressAt = 5 }) {
  await page.getByRole('tab', { name: 'Video' }).click();
  const chosen = page.locator('#video-smoothing input[type=radio]:checked');
  await waitFor(chosen, 'the default smoothing (filled in once the models are loaded)', timeout, 'attached');
  const smoothing = await chosen.getAttribute('value');
  await page.locator('#video-input input[type=file]').setInputFiles(file);
  await waitFor(page.locator('#video-input video'), 'the uploaded video preview', timeout);
  await page.evaluate(() => {
    window.progressSeen = [];
    const observer = new MutationObserver(() => {
      const text = document.querySelector('#video-output')?.innerText ?? '';
      const match = text.match(/Analysing video\D*([\d.]+)%/);
      const value = match && Number(match[1]);
      if (match && value !== window.progressSeen.at(-1)) window.progressSeen.push(value);
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const started = Date.now();
  await page.locator('#video-run').click();
  const csv = page.locator('#video-csv a[download]');
  if (progressShot) {
    const reached = (at) => (window.progressSeen ?? []).some((value) => value >= at);
    await page.waitForFunction(reached, progressAt, { timeout, polling: 250 });
    await page.screenshot({ path: progressShot, fullPage: true });
  }
  await waitFor(csv, 'the timeline CSV link', timeout);
  const seconds = (Date.now() - started) / 1000;
  const player = page.locator('#video-output video[src]');
  await waitFor(player, 'the annotated video player', timeout);
  const csvText = await (await page.request.get(await csv.getAttribute('href'))).text();
  await waitFor(page.getByText(/Analysing video/).first(), 'the progress bar', timeout, 'hidden');
  const summaryRows = await tableRows(page, 'video-summary', timeout);
  return {
    smoothing,
    seconds,
    player: await player.getAttribute('src'),
    csv: await csv.getAttribute('download'),
    csv_header: csvText.split('\n')[0],
    csv_rows: csvText.trim().split('\n').length - 1,
    csv_last_time_s: lastTime(csvText),
    summary_rows: summaryRows,
    progress: await page.evaluate(() => window.progressSeen),
  };
}

/** How many rows of data the table `#id` shows, once it shows one or more (the page's grid
 *  counts its header row too). */
export async function tableRows(page, id, timeout) {
  const counted = (selector) => {
    const rows = Number(document.querySelector(selector)?.getAttribute('aria-rowcount') ?? 1) - 1;
    return rows > 0 && rows;
  };
  try {
    return await (await page.waitForFunction(counted, `#${id} [role=grid]`, { timeout })).jsonValue();
  } catch (error) {
    throw new Error(`rows in #${id}: none after ${timeout / 1000} s`);
  }
}

/** The largest `time_s` in a timeline CSV's text. */
function lastTime(csvText) {
  const [header, ...rows] = csvText.trim().split('\n');
  const column = header.split(',').indexOf('time_s');
  return Math.max(...rows.map((row) => Number(row.split(',')[column])));
}
