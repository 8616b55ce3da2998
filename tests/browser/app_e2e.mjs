// End-to-end check of the fer-video web app in headless Chromium, driven by Playwright.
//
//   node app_e2e.mjs --url http://127.0.0.1:7860/ --image face.png --video clip.mp4 --big big.mp4 \
//                    --camera face.y4m --shots results/screenshots [--chromium /usr/bin/chromium]
//
// Page: the Faces table's column names before any analysis. Image tab: upload a photo, wait for
// the label and its bars. Video tab: a file over the upload limit (--big) must be refused with a
// message; then upload the clip, run it, watch the progress bar, wait for the annotated player,
// the CSV link and the summary. Live tab: stream Chromium's fake camera (fed from --camera), wait
// for a label and the rolling timeline. Saves image.png, video.png and live.png in --shots and
// prints one JSON line of what each tab showed; on failure prints the reason and the path of a
// picture of the page, and exits 1. tests/test_app_browser.py runs it against a live `fer-video app`.

import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { analyseVideo, openBrowser, tableRows, toast, waitFor } from './gradio_app.mjs';

const CLASSES = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'];
const A_CLASS = new RegExp(`^\\s*(${CLASSES.join('|')})\\s*$`);

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    image: { type: 'string' },
    video: { type: 'string' },
    big: { type: 'string' },
    camera: { type: 'string' },
    shots: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    timeout: { type: 'string', default: '120000' },
  },
});
for (const name of ['url', 'image', 'video', 'big', 'camera', 'shots']) {
  if (!opts[name]) {
    console.error(`app_e2e.mjs: --${name} is required`);
    process.exit(2);
  }
}
const timeout = Number(opts.timeout);

/** The label shown by a gr.Label (its top class), once it is one of CLASSES. */
async function labelOf(page, id) {
  const value = page.locator(`#${id} [data-testid=label-output-value]`).filter({ hasText: A_CLASS });
  await waitFor(value, `an emotion label in #${id}`, timeout);
  return (await value.textContent()).trim();
}

/** The column names of a table, as the page shows them. */
async function columns(page, id) {
  await waitFor(page.locator(`#${id} thead th`).first(), `the columns of #${id}`, timeout);
  return (await page.locator(`#${id} thead th`).allInnerTexts()).map((name) => name.trim());
}

async function imageTab(page) {
  await page.locator('#image-input input[type=file]').setInputFiles(opts.image);
  const label = await labelOf(page, 'image-label');
  const bars = await page.locator('#image-label meter').count();
  await waitFor(page.locator('#image-output img'), 'the annotated image', timeout);
  await waitFor(page.locator('#image-chart img'), 'the probability chart', timeout);
  const faces = await tableRows(page, 'image-table', timeout);
  await page.screenshot({ path: path.join(opts.shots, 'image.png'), fullPage: true });
  return { label, bars, faces };
}

async function videoTab(page) {
  await page.getByRole('tab', { name: 'Video' }).click();
  await page.locator('#video-input input[type=file]').setInputFiles(opts.big);
  const refused = await toast(page, /maximum allowed size/, timeout);
  const shown = await analyseVideo(page, opts.video, { timeout });
  await page.screenshot({ path: path.join(opts.shots, 'video.png'), fullPage: true });
  return { ...shown, refused };
}

async function liveTab(page) {
  await page.getByRole('tab', { name: 'Live' }).click();
  const camera = page.locator('#live-input');
  await camera.getByText('Click to Access Webcam').click();
  await camera.getByRole('button', { name: /capture photo|record/i }).click(); // starts streaming
  const label = await labelOf(page, 'live-label');
  await waitFor(page.locator('#live-output img'), 'the annotated webcam frame', timeout);
  const lines = await timelineLines(page);
  await page.screenshot({ path: path.join(opts.shots, 'live.png'), fullPage: true });
  return { label, faces: await tableRows(page, 'live-table', timeout), timeline: lines };
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
let browser;
try {
  browser = await openBrowser(opts.chromium, { camera: opts.camera, timeout });
  const { page } = browser;
  await page.goto(opts.url, { waitUntil: 'domcontentloaded' });
  await waitFor(page.locator('#image-input'), 'the app page', timeout);
  const result = { empty_columns: await columns(page, 'image-table') };
  result.image = await imageTab(page);
  result.video = await videoTab(page);
  result.live = await liveTab(page);
  console.log(JSON.stringify(result));
} catch (error) {
  const shot = browser ? path.join(browser.scratch, 'failure.png') : '(no page)';
  await browser?.page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`app_e2e.mjs: ${error.message.split('\n')[0]} (page at failure: ${shot})`);
  process.exitCode = 1;
} finally {
  await browser?.context.close();
  if (browser) rmSync(process.exitCode ? path.join(browser.scratch, 'chromium') : browser.scratch, { recursive: true, force: true });
}
