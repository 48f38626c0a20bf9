package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/staxkeys/staxkeys/internal/app"
)

// TestInterruptedExitCode: whatever a command returned after the signal becomes exit 130,
// except a usage error (the signal did not cause it); nothing changes without a signal.
func TestInterruptedExitCode(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	code := func(err error) int {
		var exit *ExitError
		if errors.As(err, &exit) {
			return exit.Code
		}
		if err != nil {
			return 1
		}
		return 0
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"success", gone, nil, 0},
		{"plain error, no signal", live, errors.New("disk"), 1},
		{"plain error after the signal", gone, errors.New("context canceled"), exitInterrupt},
		{"revoked after the signal", gone, &ExitError{Code: exitBadKey}, exitInterrupt},
		{"usage error after the signal", gone, usageError(errors.New("bad flag")), exitUsage},
		{"master key error, no signal", live, &app.Failure{Kind: app.MasterKey, Err: errors.New("wrong")}, exitMasterKey},
		{"config error, wrapped", live, fmt.Errorf("open: %w", &app.Failure{Kind: app.Config, Err: errors.New("no db")}), exitConfig},
	} {
		if got := code(interrupted(tc.ctx, withExitCode(tc.err))); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}
