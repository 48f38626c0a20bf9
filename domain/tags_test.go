package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/domain"
)

func TestNormalizeTags(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		bad  string // a part of the message, "" when good
	}{
		{nil, []string{}, ""},
		{[]string{" Env:Prod ", "billing", "BILLING", "", "  "}, []string{"billing", "env:prod"}, ""},
		{[]string{"team/ops", "a.b_c-d", "0day"}, []string{"0day", "a.b_c-d", "team/ops"}, ""},
		{[]string{strings.Repeat("a", 40)}, []string{strings.Repeat("a", 40)}, ""},
		{[]string{"ok", "on call"}, nil, `tag "on call" may use only`},
		{[]string{"café"}, nil, `tag "café" may use only`},
		{[]string{"-x"}, nil, `tag "-x" must start with a letter or a digit`},
		{[]string{strings.Repeat("a", 41)}, nil, "a tag is too long: at most 40"},
		{[]string{"sk_live_key!0123456789"}, nil, "a tag may use only"},
		{[]string{"a\nb"}, nil, "a tag may use only"},
		{[]string{"a\u202eb"}, nil, "a tag may use only"},
	} {
		got, msg := domain.NormalizeTags(tc.in)
		if tc.bad == "" && (msg != "" || !slices.Equal(got, tc.want)) {
			t.Errorf("NormalizeTags(%q) = %q, %q; want %q", tc.in, got, msg, tc.want)
		}
		if tc.bad != "" && !strings.Contains(msg, tc.bad) {
			t.Errorf("NormalizeTags(%q) message %q, want it to hold %q", tc.in, msg, tc.bad)
		}
	}
	many := make([]string, domain.MaxTags+1)
	for i := range many {
		many[i] = "t" + strings.Repeat("x", i)
	}
	if _, msg := domain.NormalizeTags(many); !strings.Contains(msg, "at most 20 tags") {
		t.Errorf("21 tags: %q", msg)
	}
	if _, msg := domain.NormalizeTags(many[:domain.MaxTags]); msg != "" {
		t.Errorf("20 tags: %q", msg)
	}
}
