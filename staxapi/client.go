package staxapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

const (
	// DefaultBaseURL is the public API's address.
	DefaultBaseURL = "https://api.stax.ai"
	// DefaultProbePath is the root because the Stax.ai docs' own example of
	// an authenticated call is a plain GET of the root; there is no
	// documented "who am I" endpoint.
	DefaultProbePath = "/"
	// DefaultTimeout bounds one check so a stalled API cannot hold a
	// checker slot for long.
	DefaultTimeout = 10 * time.Second
	// DefaultUserAgent identifies us to Stax.ai when the caller gives no
	// versioned agent; Go's default would say nothing about who calls.
	DefaultUserAgent = "staxkeys"
)

// Config says where and how to probe. Everything has a default so that the
// zero Config talks to the real API, while tests and demos point BaseURL at a
// local fake.
type Config struct {
	// BaseURL is an absolute http(s) URL, default DefaultBaseURL; it may
	// carry a path prefix but no query.
	BaseURL string
	// ProbePath starts with "/" and may carry a query; default
	// DefaultProbePath.
	ProbePath string
	// Timeout bounds each request including its body; default
	// DefaultTimeout.
	Timeout time.Duration
	// UserAgent is sent as is, e.g. "staxkeys/1.2.3"; default
	// DefaultUserAgent.
	UserAgent string
	// Transport is for tests; the default is a clone of
	// http.DefaultTransport sized for many concurrent checks on one host.
	Transport http.RoundTripper
}

// Client sends checks. It holds no per-check state, so one Client serves any
// number of goroutines.
type Client struct {
	url       string
	timeout   time.Duration
	userAgent string
	hc        *http.Client
}

// New validates cfg up front so a bad setting fails at start-up rather than
// as a stream of Undecided results.
func New(cfg Config) (*Client, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, errors.New("staxapi: base URL does not parse")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("staxapi: base URL must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, errors.New("staxapi: base URL must not carry user info")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("staxapi: base URL must not carry a query or fragment; put it in the probe path")
	}
	probe := cfg.ProbePath
	if probe == "" {
		probe = DefaultProbePath
	}
	if !strings.HasPrefix(probe, "/") {
		return nil, errors.New("staxapi: probe path must start with /")
	}
	full := strings.TrimRight(base, "/") + probe
	fu, err := url.Parse(full)
	if err != nil || fu.Host != u.Host {
		// Defensive: whatever the probe path holds, credentials go to the base host only.
		return nil, errors.New("staxapi: probe path does not form a valid URL with the base URL")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("staxapi: timeout must not be negative")
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	if hasControl(ua) {
		return nil, errors.New("staxapi: user agent contains control characters")
	}
	rt := cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 128
		t.MaxIdleConnsPerHost = 64
		rt = t
	}
	return &Client{
		url:       fu.String(),
		timeout:   timeout,
		userAgent: ua,
		hc: &http.Client{
			Transport: rt,
			// Credentials ride in headers; following a redirect could hand
			// them to another host, so a 3xx is reported instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Check asks Stax.ai whether the pair is accepted. It sends GET to the probe
// URL with "Email: <email>" and "Authorization: Bearer <key>" exactly as
// given, never follows redirects, and reads at most MaxBody+1 bytes.
//
// The error is non-nil only when ctx itself ended (shutdown): the caller must
// then record nothing, since nothing was learnt about the key. Every other
// failure is a Result with Outcome Undecided.
func (c *Client) Check(ctx context.Context, email, key string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("staxapi: check abandoned: %w", err)
	}
	sc := newScrubber(email, key)
	if hasControl(email) || hasControl(key) {
		// CR/LF would inject headers; the request is not sent at all.
		return undecidedResult("the email or key contains control characters; not sent", false), nil
	}
	if strings.TrimSpace(email) == "" || strings.TrimSpace(key) == "" {
		return undecidedResult("the email or key is empty; not sent", false), nil
	}

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.url, nil)
	if err != nil {
		return undecidedResult("cannot build the request", false), nil
	}
	req.Header.Set("Email", email)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("staxapi: check abandoned: %w", ctx.Err())
		}
		r := undecidedResult(c.transportReason(rctx, err, sc), true)
		r.Latency = time.Since(start)
		return r, nil
	}
	defer resp.Body.Close()

	body, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	latency := time.Since(start)
	if rerr != nil && ctx.Err() != nil {
		return Result{}, fmt.Errorf("staxapi: check abandoned: %w", ctx.Err())
	}
	truncated := len(body) > MaxBody
	if truncated {
		body = body[:MaxBody]
	}

	h := resp.Header
	if loc, lerr := resp.Location(); lerr == nil {
		// Name the absolute target so an admin sees where it pointed.
		h = h.Clone()
		h.Set("Location", loc.String())
	}

	r := classify(resp.StatusCode, h, body, truncated, time.Now(), sc)
	if rerr != nil {
		// A body cut short is not a JSON object, whatever the status: not
		// even a 401 decides without Stax.ai's whole answer, since a proxy
		// dying mid-page looks the same.
		r.Outcome = domain.OutcomeUndecided
		r.UpstreamFault = true
		if errors.Is(rerr, context.DeadlineExceeded) || rctx.Err() != nil {
			r.Reason = fmt.Sprintf("HTTP %d, then timed out after %s reading the body", resp.StatusCode, fmtDuration(c.timeout))
		} else {
			r.Reason = fmt.Sprintf("HTTP %d, then the connection broke before the whole body arrived", resp.StatusCode)
		}
		r.Reason = cleanReason(r.Reason)
	}
	r.Latency = latency
	return r, nil
}

func undecidedResult(reason string, fault bool) Result {
	return Result{Outcome: domain.OutcomeUndecided, Reason: cleanReason(reason), UpstreamFault: fault}
}

// transportReason names the failure in words an admin can act on; the raw
// error text is a last resort, scrubbed, because it is not ours.
func (c *Client) transportReason(rctx context.Context, err error, sc *scrubber) string {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unkErr  x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || rctx.Err() != nil:
		return "timed out after " + fmtDuration(c.timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS lookup failed: no such host"
		}
		return "DNS lookup failed"
	case errors.As(err, &certErr), errors.As(err, &unkErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		return "TLS certificate not trusted"
	case errors.As(err, &recErr):
		return "TLS handshake failed (is the base URL really https?)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response arrived"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "network timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL, which adds nothing
	}
	return "request failed: " + upstreamText(err.Error(), sc)
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
