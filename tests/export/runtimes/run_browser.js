// Opens URL in Debian's Chromium (headless, through playwright-core) and prints window.result.
// node run_browser.js URL CHROMIUM_PATH
const { chromium } = require("playwright-core");

(async () => {
  const [url, executablePath] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 60000 });
    console.log(JSON.stringify(await page.evaluate(() => window.result)));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
