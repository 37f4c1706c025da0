// Debian's chromium is used (CHROMIUM_PATH); never download a browser.
module.exports = { skipDownload: true };
