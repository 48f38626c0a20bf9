package password_test

import (
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/internal/password"
)

func TestHashVerify(t *testing.T) {
	h, err := password.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	h2, _ := password.Hash("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batter", false}, {"", false}, {"Correct horse battery", false}} {
		ok, err := password.Verify(tc.pw, h)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=18$m=1,t=1,p=1$AA$AA",
		"$argon2id$v=19$m=0,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA", "$argon2id$v=19$m=8,t=1,p=1$!!$AA",
		"$argon2id$v=19$m=8,t=1,p=1$AA$"} {
		if ok, err := password.Verify("x", h); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want malformed", h, ok, err)
		}
	}
}

func TestCheck(t *testing.T) {
	for pw, bad := range map[string]bool{
		"short":                          true,
		"elevenchars":                    true,
		"twelve chars":                   false,
		"            ":                   true,
		strings.Repeat("x", 1025):        true,
		"\xff\xfe invalid utf8 password": true,
		"ünïcödé pässwörd":               false,
		// Common passwords and patterns (issue 13, finding 7).
		"aaaaaaaaaaaa":                 true,
		"password1234":                 true,
		"Password1234!":                true,
		"qwertyuiop12":                 true,
		"123456789012":                 true,
		"iloveyou2024":                 true,
		"abcdefghijkl":                 true,
		strings.Repeat("a", 1000):      true, // judged by its first 128 bytes
		"correct horse battery staple": false,
		"another long passphrase":      false,
	} {
		if got := password.Check(pw) != ""; got != bad {
			t.Errorf("Check(%q) bad=%v, want %v", pw, got, bad)
		}
	}
}

// TestDummyHashMatchesDefault keeps the unknown-account path as slow as a real one.
func TestDummyHashMatchesDefault(t *testing.T) {
	h, _ := password.Hash("x")
	prefix := h[:strings.LastIndex(h[:strings.LastIndex(h, "$")], "$")]
	if !strings.HasPrefix(password.DummyHashForTest, prefix) {
		t.Fatalf("dummy hash %q does not use the default parameters %q", password.DummyHashForTest, prefix)
	}
}

// TestCheckNamesTheProblem: a common password is told why, and the admin's own email counts as
// a common word.
func TestCheckNamesTheProblem(t *testing.T) {
	if msg := password.Check("password1234"); !strings.Contains(msg, "too common") {
		t.Errorf("message %q", msg)
	}
	if msg := password.Check("zqxwgrace1906"); msg != "" {
		t.Fatalf("refused alone: %s", msg)
	}
	if password.Check("zqxwgrace1906", "zqxwgrace@example.com") == "" {
		t.Error("a password built on the admin's email is accepted")
	}
}
