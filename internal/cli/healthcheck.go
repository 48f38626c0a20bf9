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
	// The flags check their own values, so that a bad one is the same usage error as any
	// other bad flag (parseFlags decides its exit code).
	path, timeout := probePath("/healthz"), positiveDuration(5*time.Second)
	fs.Var(&path, "path", "the probe to ask: /healthz, /readyz or /livez")
	fs.Var(&timeout, "timeout", "how long to wait for the answer")
	cfg, err := parseFlags(fs, env, args,
		"Asks the server listening on --addr for a probe and exits 0 when it answers 200, 1 otherwise\n"+
			"(for a container HEALTHCHECK; an address on all interfaces is asked on loopback).")
	if err != nil {
		return err
	}
	target, err := probeURL(cfg.Addr, string(path))
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	client := &http.Client{
		Timeout: time.Duration(timeout),
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

// probePath is --path: an absolute path with no query or fragment.
type probePath string

func (p *probePath) String() string { return string(*p) }

func (p *probePath) Set(s string) error {
	if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?#") {
		return fmt.Errorf("%q is not a path such as /healthz", s)
	}
	*p = probePath(s)
	return nil
}

// positiveDuration is --timeout: a duration above zero.
type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }

func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("%q is not a positive duration such as 5s", s)
	}
	*d = positiveDuration(v)
	return nil
}
