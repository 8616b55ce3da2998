// End-to-end check of the fer-video web app in headless Chromium, driven by Playwright.
//
//   node app_e2e.mjs --url http://127.0.0.1:7860/ --image face.png --video clip.mp4 \
//                    --camera face.y4m --shots results/screenshots [--chromium /usr/bin/chromium]
//
// Image tab: upload a photo, wait for the label and its bars. Video tab: upload a clip, run it,
// watch the progress bar, wait for the annotated player and the CSV link. Live tab: stream
// Chromium's fake camera (fed from --camera), wait for a label and the rolling timeline.
// Saves image.png, video.png and live.png in --shots and prints one JSON line of what each tab
// showed; on failure prints the reason and the path of a picture of the page, and exits 1.
// tests/test_app_browser.py runs it against a live `fer-video app`.

import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const CLASSES = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'];
const A_CLASS = new RegExp(`^\\s*(${CLASSES.join('|')})\\s*$`);

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    image: { type: 'string' },
    video: { type: 'string' },
    camera: { type: 'string' },
    shots: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    timeout: { type: 'string', default: '120000' },
  },
});
for (const name of ['url', 'image', 'video', 'camera', 'shots']) {
  if (!opts[name]) {
    console.error(`app_e2e.mjs: --${name} is required`);
    process.exit(2);
  }
}
const timeout = Number(opts.timeout);

// No network here: these flags stop Chromium from stalling on connections it would make.
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  `--use-file-for-fake-video-capture=${path.resolve(opts.camera)}`,
];

/** Wait for `locator`; on timeout the error names `what` was awaited. */
async function waitFor(locator, what, state = 'visible') {
  try {
    await locator.waitFor({ state, timeout });
  } catch (error) {
    throw new Error(`${what}: not ${state} after ${timeout / 1000} s`);
  }
}

/** The label shown by a gr.Label (its top class), once it is one of CLASSES. */
async function labelOf(page, id) {
  const value = page.locator(`#${id} [data-testid=label-output-value]`).filter({ hasText: A_CLASS });
  await waitFor(value, `an emotion label in #${id}`);
  return (await value.textContent()).trim();
}

async function imageTab(page) {
  await page.locator('#image-input input[type=file]').setInputFiles(opts.image);
  const label = await labelOf(page, 'image-label');
  const bars = await page.locator('#image-label meter').count();
  await waitFor(page.locator('#image-output img'), 'the annotated image');
  await waitFor(page.locator('#image-chart img'), 'the probability chart');
  const faces = await page.locator('#image-table tbody tr').count();
  await page.screenshot({ path: path.join(opts.shots, 'image.png'), fullPage: true });
  return { label, bars, faces };
}

async function videoTab(page) {
  await page.getByRole('tab', { name: 'Video' }).click();
  await page.locator('#video-input input[type=file]').setInputFiles(opts.video);
  await waitFor(page.locator('#video-input video'), 'the uploaded video preview');
  // Remember every progress message the page shows while the analysis runs.
  await page.evaluate(() => {
    window.progressSeen = [];
    const observer = new MutationObserver(() => {
      const text = document.querySelector('#video-output')?.innerText ?? '';
      const match = text.match(/Analysing video\D*([\d.]+)%/);
      if (match) window.progressSeen.push(Number(match[1]));
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.locator('#video-run').click();
  const player = page.locator('#video-output video[src]');
  await waitFor(player, 'the annotated video player');
  const csv = page.locator('#video-csv a[download]');
  await waitFor(csv, 'the timeline CSV link');
  const csvText = await (await page.request.get(await csv.getAttribute('href'))).text();
  await waitFor(page.getByText(/Analysing video/).first(), 'the progress bar', 'hidden');
  const progress = await page.evaluate(() => window.progressSeen);
  await page.screenshot({ path: path.join(opts.shots, 'video.png'), fullPage: true });
  return {
    player: await player.getAttribute('src'),
    csv: await csv.getAttribute('download'),
    csv_header: csvText.split('\n')[0],
    csv_rows: csvText.trim().split('\n').length - 1,
    progress,
  };
}

async function liveTab(page) {
  await page.getByRole('tab', { name: 'Live' }).click();
  const camera = page.locator('#live-input');
  await camera.getByText('Click to Access Webcam').click();
  await camera.getByRole('button', { name: /capture photo|record/i }).click(); // starts streaming
  const label = await labelOf(page, 'live-label');
  await waitFor(page.locator('#live-output img'), 'the annotated webcam frame');
  const lines = await timelineLines(page);
  await page.screenshot({ path: path.join(opts.shots, 'live.png'), fullPage: true });
  return { label, faces: await page.locator('#live-table tbody tr').count(), timeline: lines };
}

/** The emotions drawn as lines (two points or more) in the Live tab's rolling timeline. */
async function timelineLines(page) {
  const drawn = () => {
    const lines = [...document.querySelectorAll('#live-timeline path[aria-roledescription="line mark"]')];
    const complete = lines.length > 0 && lines.every((line) => (line.getAttribute('d') ?? '').includes('L'));
    return complete ? lines.map((line) => line.getAttribute('aria-label').match(/emotion: (\w+)/)[1]) : null;
  };
  try {
    return await (await page.waitForFunction(drawn, null, { timeout })).jsonValue();
  } catch (error) {
    throw new Error(`the live timeline's lines: not drawn after ${timeout / 1000} s`);
  }
}

mkdirSync(opts.shots, { recursive: true });
const scratch = mkdtempSync(path.join(tmpdir(), 'fer-video-e2e-')); // browser profile, failure picture
let context;
let page;
try {
  context = await chromium.launchPersistentContext(path.join(scratch, 'chromium'), {
    executablePath: opts.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 900 },
    permissions: ['camera'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  await page.goto(opts.url, { waitUntil: 'domcontentloaded' });
  await waitFor(page.locator('#image-input'), 'the app page');
  const result = { image: await imageTab(page) };
  result.video = await videoTab(page);
  result.live = await liveTab(page);
  console.log(JSON.stringify(result));
} catch (error) {
  const shot = path.join(scratch, 'failure.png');
  await page?.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`app_e2e.mjs: ${error.message.split('\n')[0]} (page at failure: ${shot})`);
  process.exitCode = 1;
} finally {
  await context?.close();
  rmSync(process.exitCode ? path.join(scratch, 'chromium') : scratch, { recursive: true, force: true });
}
