package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"time"
)

// Policy says which addresses alerts may be sent to. Webhook and SMTP destinations are typed
// by admins, so without it staxkeys would reach, on their behalf, whatever its host can: the
// loopback interface, the private network, a cloud metadata endpoint. By default only public
// unicast addresses are allowed; the operator allows internal receivers by host or CIDR
// (STAXKEYS_ALERT_ALLOW). The check runs at dial time on the address actually connected to,
// after DNS, so neither a name that resolves to an internal address (DNS rebinding) nor a
// redirect gets around it.
type Policy struct {
	nets  []netip.Prefix
	hosts map[string]bool // lower-case host names, allowed whatever they resolve to
}

// ErrDenied is a destination refused by the Policy.
var ErrDenied = errors.New("notify: destination not allowed by policy")

// ParsePolicy reads a comma-separated allow-list of CIDRs ("10.0.0.0/8"), addresses
// ("127.0.0.1", "::1") and host names ("mail.internal"). "" allows public addresses only.
func ParsePolicy(s string) (*Policy, error) {
	p := &Policy{hosts: map[string]bool{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case strings.Contains(item, "/"):
			pre, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("notify: STAXKEYS_ALERT_ALLOW: %q is not a CIDR such as 10.0.0.0/8", item)
			}
			p.nets = append(p.nets, pre.Masked())
		default:
			if a, err := netip.ParseAddr(strings.Trim(item, "[]")); err == nil {
				p.nets = append(p.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(item, " :@") {
				return nil, fmt.Errorf("notify: STAXKEYS_ALERT_ALLOW: %q is neither a host name, an address nor a CIDR", item)
			}
			p.hosts[strings.ToLower(strings.TrimSuffix(item, "."))] = true
		}
	}
	return p, nil
}

// String lists the policy's allowances, for the log at start-up.
func (p *Policy) String() string {
	if p == nil || (len(p.nets) == 0 && len(p.hosts) == 0) {
		return "public addresses only"
	}
	var parts []string
	for _, n := range p.nets {
		parts = append(parts, n.String())
	}
	for h := range p.hosts {
		parts = append(parts, h)
	}
	return "public addresses and " + strings.Join(parts, ", ")
}

// internal are the ranges refused unless allowed: loopback, private (RFC 1918, CGNAT),
// link-local (cloud metadata lives at 169.254.169.254), unique-local, multicast, and the
// unspecified, "this network", benchmarking and reserved blocks, which no receiver uses.
var internal = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// allowedAddr reports whether an address may be connected to.
func (p *Policy) allowedAddr(a netip.Addr) bool {
	// A zone ("fe80::1%eth0") would make every prefix miss, link-local included.
	a = a.Unmap().WithZone("")
	if p != nil {
		for _, n := range p.nets {
			if n.Contains(a) {
				return true
			}
		}
	}
	for _, n := range internal {
		if n.Contains(a) {
			return false
		}
	}
	return a.IsValid()
}

// allowedHost reports whether a host name was allowed by name.
func (p *Policy) allowedHost(host string) bool {
	return p != nil && p.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// Check says, before anything is sent, whether a destination host is refused for certain:
// "localhost", or an address literal outside the policy. Other names are checked when dialled.
func (p *Policy) Check(host string) error {
	host = strings.Trim(host, "[]")
	if p.allowedHost(host) {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !p.allowedAddr(a) {
			return ErrDenied
		}
		return nil
	}
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return ErrDenied
	}
	return nil
}

// dialer returns a dialer for host (the name being dialled) that refuses, after DNS and
// before connecting, every address the policy does not allow.
func (p *Policy) dialer(host string, timeout time.Duration) *net.Dialer {
	byName := p.allowedHost(host)
	return &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			if byName {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !p.allowedAddr(ap.Addr()) {
				return ErrDenied
			}
			return nil
		},
	}
}

// DialContext connects to addr ("host:port") if the policy allows the address it resolves to.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return p.dialer(host, 15*time.Second).DialContext(ctx, network, addr)
}

// httpClient is the client for webhooks and Slack: dials through the policy, no proxy from the
// environment (the proxy would reach what the policy refuses), and no redirects (a receiver
// could send staxkeys' requests anywhere, secrets in headers included).
func (p *Policy) httpClient() *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:           p.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 15 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// failureClass names what went wrong with a network exchange in words of our own: the text of
// an error may quote what the other side sent (a banner, a status line), which must reach
// neither the admin's page nor the delivery log, or the test button becomes a port scanner
// that reads back whatever a service says first.
func failureClass(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var netErr net.Error
	var proto textproto.ProtocolError
	switch {
	case errors.Is(err, ErrDenied):
		return "destination not allowed by policy"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "host name not found"
		}
		return "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &unknownAuth),
		errors.As(err, &hostErr), errors.As(err, &invalidCert):
		return "TLS handshake failed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE):
		return "connection closed by the other side"
	case errors.As(err, &proto):
		return "unexpected answer (not the expected protocol)"
	case strings.Contains(err.Error(), "tls:"):
		return "TLS handshake failed"
	}
	return "unexpected answer (not the expected protocol)"
}
