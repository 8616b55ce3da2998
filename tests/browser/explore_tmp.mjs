import { chromium } from 'playwright-core';
import fs from 'node:fs';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox','--disable-gpu','--disable-quic','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync'] });
const page = await browser.newPage();
await page.goto('http://127.0.0.1:7861/');
await page.waitForSelector('#image-input', { timeout: 300000 });
await page.locator('#image-input input[type=file]').setInputFiles('/tmp/appdev/astronaut.png');
await page.locator('#image-label [data-testid=label-output-value]').waitFor({ timeout: 300000 });
await page.waitForTimeout(3000);
const strip = s => s.replace(/<svg.*?<\/svg>/gs, '');
fs.writeFileSync('/tmp/appdev/dom_table.html', strip(await page.locator('#image-table').evaluate(e => e.outerHTML)));
console.log(await page.locator('#image-table tbody tr').count(), await page.locator('#image-table [role=row]').count());
await browser.close();
