package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/staxkeys/staxkeys/internal/cli"
)

// stepTimeout bounds every browser step and every wait for the program. It is generous because
// CI machines can be slow; a healthy run never comes near it.
const stepTimeout = 30 * time.Second

// browsers are the executables tried, in order, when STAXKEYS_BROWSER names none.
var browsers = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"}

// findBrowser returns the browser to drive. Without one the test is skipped, except in CI,
// where a missing browser means the suite did not run and must fail.
func findBrowser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STAXKEYS_BROWSER"); p != "" {
		return p
	}
	for _, name := range browsers {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium or chrome found (tried " + strings.Join(browsers, ", ") + "; set STAXKEYS_BROWSER): " +
		"install it with `apt-get install -y chromium` to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// logBuffer collects what the program writes from its goroutines and wakes a waiting test.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

var listening = regexp.MustCompile(`msg="staxkeys listening" url=(\S+)`)

// startProgram runs the real staxkeys program (cli.Run, as main does) with env on port 0 and
// returns its base URL and its log. It stops the program when the test ends.
func startProgram(t *testing.T, env map[string]string) (string, *logBuffer) {
	t.Helper()
	return startProgramAt(t, "127.0.0.1:0", env)
}

// startProgramAt is startProgram listening on addr.
func startProgramAt(t *testing.T, addr string, env map[string]string) (string, *logBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := newLogBuffer()
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"--addr", addr}, cli.Env{
			Getenv: func(k string) string { return env[k] },
			Stdin:  strings.NewReader(""),
			Stdout: log,
			Stderr: log,
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the program stopped with %v", err)
			}
		case <-time.After(stepTimeout):
			t.Error("the program did not stop")
		}
	})
	deadline := time.After(stepTimeout)
	for {
		changed := log.wait()
		if m := listening.FindStringSubmatch(log.String()); m != nil {
			return m[1], log
		}
		select {
		case <-changed:
		case err := <-done:
			t.Fatalf("the program stopped before listening: %v\n%s", err, log.String())
		case <-deadline:
			t.Fatalf("the program did not listen within %v:\n%s", stepTimeout, log.String())
		}
	}
}

// browser is one headless chromium tab with the helpers the tests need.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage

	shots string // where screenshots go
}

// startBrowser starts chromium headless, without a sandbox (CI runs as root in a container),
// with background networking, updates and sync off, in a fresh profile.
func startBrowser(t *testing.T, exe, base string) *browser {
	t.Helper()
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "en-GB"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the browser is gone before its profile is removed.
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	b.shots = os.Getenv("STAXKEYS_SCREENSHOTS")
	if b.shots == "" {
		b.shots = filepath.Join(os.TempDir(), "staxkeys-screenshots")
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs browser steps, failing the test with the step's name if one fails or times out.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage: %s", step, err, b.location())
	}
}

// value runs one browser step that returns a value.
func value[T any](b *browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v\npage: %s", step, err, b.location())
	}
	return v
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// open navigates to a path of the server and waits for sel.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// submit clicks a button that submits a form and waits for the next page to load.
func (b *browser) submit(step, button string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(button))))
	if err != nil {
		b.t.Fatalf("%s: %v\npage: %s", step, err, b.location())
	}
}

// fill types values into the fields named by CSS selectors, after clearing them.
func (b *browser) fill(step string, fields ...string) {
	b.t.Helper()
	var actions []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		actions = append(actions, chromedp.Clear(chromedp.CSS(fields[i])), chromedp.SendKeys(chromedp.CSS(fields[i]), fields[i+1]))
	}
	b.do(step, actions...)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(value(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

func (b *browser) eval(expr string) bool {
	b.t.Helper()
	return value(b, "evaluate "+expr, chromedp.Evaluate[bool](expr))
}

// waitJS waits until the JavaScript expression is true, re-evaluating it every 50 ms. Unlike
// chromedp.Poll it survives the page's document being replaced in the meantime.
func (b *browser) waitJS(step, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		<-tick.C
	}
	b.t.Fatalf("%s: %s still false after %v (last error %v)\npage: %s", step, expr, stepTimeout, last, b.location())
}

// markPage sets a marker on the window; it survives swaps, not a reload or a navigation.
func (b *browser) markPage() {
	b.t.Helper()
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.staxkeysMarker = "kept"`))
}

// stillSamePage reports whether the page marked by markPage was never reloaded.
func (b *browser) stillSamePage() bool {
	b.t.Helper()
	return b.eval(`window.staxkeysMarker === "kept"`)
}

// view is a viewport and colour scheme for screenshots.
type view struct {
	name          string
	width, height int64
	mobile, dark  bool
}

var (
	desktopLight = view{"desktop-light", 1280, 860, false, false}
	desktopDark  = view{"desktop-dark", 1280, 860, false, true}
	// Tall views show a whole pair page: verdict, chart, timeline and checks.
	desktopTallLight = view{"desktop-light", 1280, 1240, false, false}
	desktopTallDark  = view{"desktop-dark", 1280, 1240, false, true}
	// Short views suit a page with little on it, such as the reveal.
	desktopShortLight = view{"desktop-light", 1280, 640, false, false}
	phoneLight        = view{"phone-light", 390, 844, true, false}
	phoneDark         = view{"phone-dark", 390, 844, true, true}
	allViews          = []view{desktopLight, desktopDark, phoneLight, phoneDark}
)

// setView emulates the viewport and the colour scheme the OS would report.
func (b *browser) setView(v view) {
	b.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	scheme := "light"
	if v.dark {
		scheme = "dark"
	}
	media := func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: scheme},
				// No transitions: a screenshot must not catch a colour half-way.
				{Name: "prefers-reduced-motion", Value: "reduce"},
			},
		})
		return err
	}
	b.do("view "+v.name, chromedp.EmulateViewport(v.width, v.height, opts...), chromedp.Func(media))
}

// shoot saves a screenshot of the viewport in each view, then goes back to desktop light.
// At phone width it also checks that nothing makes the page scroll sideways: wide tables
// scroll inside their own box.
func (b *browser) shoot(name string, views ...view) {
	b.t.Helper()
	for _, v := range views {
		b.setView(v)
		// A phone zooms out (innerWidth grows) when anything is wider than the screen.
		fits := fmt.Sprintf(`window.innerWidth === %d && document.documentElement.scrollWidth <= %d`, v.width, v.width)
		if v.mobile && !b.eval(fits) {
			b.t.Errorf("%s at %d px: the page is wider than the screen (%s)", name, v.width,
				value(b, "measure", chromedp.Evaluate[string](`window.innerWidth + " / " + document.documentElement.scrollWidth`)))
		}
		png := value(b, "screenshot "+name, chromedp.CaptureScreenshot())
		file := filepath.Join(b.shots, fmt.Sprintf("%s-%s.png", name, v.name))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.setView(desktopLight)
}

// consoleProblems returns the console messages that mean the page is broken: uncaught
// exceptions and Content-Security-Policy violations (an inline script or style).
func (b *browser) consoleProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, m.String())
		}
	}
	return out
}
