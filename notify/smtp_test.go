package notify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

// smtpMessage is one message the fake SMTP server accepted.
type smtpMessage struct {
	From   string
	To     []string
	Data   string
	TLS    bool   // sent after STARTTLS
	AuthAs string // the username that authenticated, if any
}

// smtpServer is a tiny SMTP server on 127.0.0.1: enough of RFC 5321 for net/smtp, with
// STARTTLS when given a certificate and AUTH PLAIN when given credentials.
type smtpServer struct {
	ln         net.Listener
	tls        *tls.Config
	user, pass string
	msgs       chan smtpMessage
	wg         sync.WaitGroup
}

func startSMTP(t *testing.T, tlsCfg *tls.Config, user, pass string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, tls: tlsCfg, user: user, pass: pass, msgs: make(chan smtpMessage, 10)}
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(conn) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	tp := textproto.NewConn(conn)
	var msg smtpMessage
	reply := func(lines ...string) {
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			_ = tp.PrintfLine("%s%s%s", l[:3], sep, l[4:])
		}
	}
	reply("220 fake.example ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"250 fake.example"}
			if s.tls != nil && !msg.TLS {
				lines = append(lines, "250 STARTTLS")
			}
			if s.user != "" {
				lines = append(lines, "250 AUTH PLAIN")
			}
			reply(append(lines, "250 SIZE 1000000")...)
		case "STARTTLS":
			reply("220 go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, tp, msg.TLS = tc, textproto.NewConn(tc), true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if !strings.EqualFold(mech, "PLAIN") || err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				reply("535 authentication failed")
				continue
			}
			msg.AuthAs = parts[1]
			reply("235 ok")
		case "MAIL":
			msg.From = strings.Trim(strings.TrimPrefix(strings.ToUpper(arg[:5]), "FROM:")+arg[5:], "<>")
			reply("250 ok")
		case "RCPT":
			if s.user != "" && msg.AuthAs == "" {
				reply("530 authentication required")
				continue
			}
			msg.To = append(msg.To, strings.Trim(arg[3:], "<>"))
			reply("250 ok")
		case "DATA":
			reply("354 end with .")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			msg.Data = string(data)
			s.msgs <- msg
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		case "RSET", "NOOP":
			reply("250 ok")
		default:
			reply("502 not implemented")
		}
	}
}

func (s *smtpServer) next(t *testing.T) smtpMessage {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(waitLimit):
		t.Fatal("no mail arrived")
	}
	return smtpMessage{}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestEmailDelivery(t *testing.T) {
	tlsCfg, pool := selfSigned(t)
	tests := []struct {
		name       string
		tls        bool
		user, pass string
	}{
		{name: "plain, no auth"},
		{name: "STARTTLS with PLAIN auth", tls: true, user: "alerts", pass: "smtp-password-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srvTLS *tls.Config
			if tt.tls {
				srvTLS = tlsCfg
			}
			srv := startSMTP(t, srvTLS, tt.user, tt.pass)
			e := newEnv(t)
			n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
				Env: notify.Config{SMTP: notify.SMTPConfig{
					Host: "127.0.0.1", Port: srv.port(), Username: tt.user, Password: tt.pass,
					From: "staxkeys@example.com", To: []string{"ops@example.com", "sec@example.com"},
				}},
				Clock:       clocktest.NewFake(t0),
				SMTPRootCAs: pool,
			})
			p := domain.Key{ID: 12, Label: "Équipe billing", Email: "billing@example.com"}
			n.CheckRecorded(p, store.CheckRecord{Event: &domain.Event{At: t0, Old: domain.Valid, New: domain.Revoked, Reason: "Invalid authorization request (HTTP 401)"}})
			if _, err := n.DeliverDue(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := srv.next(t)
			if got.TLS != tt.tls || got.AuthAs != tt.user {
				t.Errorf("TLS %v, auth as %q; want %v, %q", got.TLS, got.AuthAs, tt.tls, tt.user)
			}
			if got.From != "staxkeys@example.com" || strings.Join(got.To, ",") != "ops@example.com,sec@example.com" {
				t.Errorf("envelope from %q to %v", got.From, got.To)
			}
			m, err := mail.ReadMessage(strings.NewReader(got.Data))
			if err != nil {
				t.Fatal(err)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || subject != "[staxkeys] Key revoked: Équipe billing (billing@example.com)" {
				t.Errorf("subject %q (%v)", subject, err)
			}
			if m.Header.Get("To") != "ops@example.com, sec@example.com" || m.Header.Get("Date") == "" ||
				m.Header.Get("Message-Id") == "" || m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
				t.Errorf("headers %v", m.Header)
			}
			body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"went from valid to revoked", "billing@example.com", "pair 12", "valid → revoked", "Invalid authorization request"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
			if d := e.deliveries(t)[0]; d.Status != domain.DeliverySent || d.Channel != "email" {
				t.Errorf("delivery %+v", d)
			}
		})
	}
}
