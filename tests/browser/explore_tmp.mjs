import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox','--disable-gpu','--disable-quic','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync',
  '--use-fake-device-for-media-stream','--use-fake-ui-for-media-stream','--use-file-for-fake-video-capture=/tmp/appdev/astronaut.y4m'] });
const context = await browser.newContext({ permissions: ['camera'] });
const page = await context.newPage();
await page.goto('http://127.0.0.1:7863/');
await page.getByRole('tab', { name: 'Live' }).click({ timeout: 300000 });
const camera = page.locator('#live-input');
await camera.getByText('Click to Access Webcam').click();
await camera.getByRole('button', { name: /capture photo|record/i }).click();
await page.locator('#live-label [data-testid=label-output-value]').waitFor({ timeout: 300000 });
await page.waitForTimeout(3000);
console.log(await page.locator('#live-timeline').evaluate(e => [...new Set([...e.querySelectorAll('*')].map(x => x.tagName + (x.getAttribute('role') ? '[' + x.getAttribute('role') + ']' : '')))].join(',')));
console.log(await page.locator('#live-timeline').evaluate(e => e.querySelector('canvas, svg')?.outerHTML.slice(0, 500)));
await browser.close();
