package views

import (
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

func checksWith(ms ...int64) []domain.Check {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	out := make([]domain.Check, len(ms))
	for i, v := range ms {
		// Stored newest first: the last latency given is the oldest check.
		out[len(ms)-1-i] = domain.Check{At: at.Add(time.Duration(i) * time.Minute), Outcome: domain.OutcomeValid, Latency: time.Duration(v) * time.Millisecond}
	}
	return out
}

func TestLatencyChart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ms      []int64
		top     string // the highest tick's label
		clipped int
	}{
		{"one check", []int64{42}, "50 ms", 0},
		{"steady", []int64{40, 55, 61, 48}, "100 ms", 0},
		{"one timeout among fast answers", []int64{40, 55, 10000, 61, 48}, "100 ms", 1},
		{"too few to call an outlier", []int64{40, 3000, 50}, "5000 ms", 0},
		{"all zero", []int64{0, 0, 0, 0}, "10 ms", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := latencyChart(checksWith(tc.ms...))
			if len(c.Points) != len(tc.ms) {
				t.Fatalf("%d points", len(c.Points))
			}
			if got := c.YTicks[len(c.YTicks)-1].Label; got != tc.top {
				t.Errorf("top tick %q, want %q", got, tc.top)
			}
			clipped := 0
			for i, p := range c.Points {
				if p.Y < c.Top-0.01 || p.Y > c.Height-c.Bottom+0.01 || p.X < c.Left || p.X > c.Width-c.Right {
					t.Errorf("point %d at (%v, %v) is outside the plot", i, p.X, p.Y)
				}
				if p.Clipped {
					clipped++
				}
				if i > 0 && p.X <= c.Points[i-1].X {
					t.Errorf("points not left to right, oldest first")
				}
			}
			if clipped != tc.clipped {
				t.Errorf("%d clipped, want %d", clipped, tc.clipped)
			}
		})
	}
	if c := latencyChart(nil); len(c.Points) != 0 || c.Summary != "" {
		t.Error("no checks should draw nothing")
	}
}

func TestPageWindow(t *testing.T) {
	for _, tc := range []struct {
		cur, pages int
		want       []int
	}{
		{1, 1, []int{1}},
		{1, 5, []int{1, 2, 3, 4, 5}},
		{1, 200, []int{1, 2, 3, 0, 200}},
		{100, 200, []int{1, 0, 98, 99, 100, 101, 102, 0, 200}},
		{200, 200, []int{1, 0, 198, 199, 200}},
	} {
		got := pageWindow(tc.cur, tc.pages)
		if len(got) != len(tc.want) {
			t.Errorf("pageWindow(%d, %d) = %v, want %v", tc.cur, tc.pages, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("pageWindow(%d, %d) = %v, want %v", tc.cur, tc.pages, got, tc.want)
				break
			}
		}
	}
}
