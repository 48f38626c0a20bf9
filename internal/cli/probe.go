package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// runHealthcheck asks the server on the configured address for one of its probes and exits 0
// when it answers 200, 1 otherwise. It is the container HEALTHCHECK: the image then needs no
// curl or wget, and the probe reads the same STAXKEYS_ADDR as the server it probes. It opens
// no database and needs no master key.
func runHealthcheck(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	path := fs.String("path", "/healthz", "the probe to ask: /healthz, /readyz or /livez")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	cfg, err := parseFlags(fs, env, args,
		"Asks the server listening on --addr for a probe and exits 0 when it answers 200, 1 otherwise\n"+
			"(for a container HEALTHCHECK; an address on all interfaces is asked on loopback).")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(*path, "/") || strings.ContainsAny(*path, "?#") {
		return &ExitError{Code: 2, Err: fmt.Errorf("--path: %q is not a path such as /healthz", *path)}
	}
	if *timeout <= 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("--timeout: %v is not a positive duration", *timeout)}
	}
	target, err := probeURL(cfg.Addr, *path)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	client := &http.Client{
		Timeout: *timeout,
		// A proxy from the environment must not stand between a container and itself, and a
		// redirect is not health.
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("healthcheck: %w", err)}
	}
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &ExitError{Code: 1, Err: fmt.Errorf("healthcheck: %s: %w", target, err)}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if res.StatusCode != http.StatusOK {
		return &ExitError{Code: 1, Err: fmt.Errorf("healthcheck: %s answered %s: %s", target, res.Status,
			strings.TrimSpace(string(body)))}
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", target, strings.TrimSpace(string(body)))
	return nil
}

// probeURL is the URL of path on the server listening on addr; a host that means "every
// interface" (empty, 0.0.0.0, ::) is reached on loopback.
func probeURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr: %q is not host:port: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: path}).String(), nil
}
