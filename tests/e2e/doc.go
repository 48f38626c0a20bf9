// Package e2e drives the whole staxkeys program in a real browser: Debian's chromium, headless,
// through chromedp, against the server started by cli.Run on port 0 and the fake Stax.ai API.
//
// The tests skip with a message where no browser is installed, except under CI=true, where a
// missing browser is a failure. They save screenshots (desktop and phone width, light and dark)
// to $STAXKEYS_SCREENSHOTS, or to a staxkeys-screenshots folder in the temporary directory.
package e2e
