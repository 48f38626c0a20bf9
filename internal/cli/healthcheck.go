package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck asks the server at STAXKEYS_ADDR for a probe and exits 0 on 200, 1 otherwise:
// a container's HEALTHCHECK can use the binary itself, with no curl or wget in the image.
func runHealthcheck(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	path := fs.String("path", "/healthz", "the probe to ask: /healthz, /livez or /readyz")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	cfg, err := parseFlags(fs, env, args, "Asks the server listening on STAXKEYS_ADDR for a probe (default /healthz) and exits 0 when\nit answers 200, 1 otherwise; for a container's HEALTHCHECK.")
	if err != nil {
		return err
	}
	switch *path {
	case "/healthz", "/livez", "/readyz":
	default:
		return usageError(fmt.Errorf("--path: one of /healthz, /livez or /readyz, not %q", *path))
	}
	if *timeout <= 0 {
		return usageError(errors.New("--timeout: must be positive"))
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return configError(fmt.Errorf("config: STAXKEYS_ADDR %q: %w", cfg.Addr, err))
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every address: ask the loopback one
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+*path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return &ExitError{Code: exitBadKey, Err: fmt.Errorf("healthcheck: %s: %w", *path, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &ExitError{Code: exitBadKey, Err: fmt.Errorf("healthcheck: %s answered %s", *path, strings.TrimSpace(resp.Status))}
	}
	fmt.Fprintf(env.Stdout, "%s ok\n", *path)
	return nil
}
