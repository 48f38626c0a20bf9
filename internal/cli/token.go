package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/app"
)

func runToken(ctx context.Context, env Env, args []string) error {
	return dispatch(ctx, env, "token", []subcommand{
		{"create", "create an API token and print it once", runTokenCreate},
		{"list", "list API tokens (never the tokens themselves)", runTokenList},
		{"revoke", "revoke an API token by id", runTokenRevoke},
	}, args)
}

// runTokenCreate prints the new token alone on the last line, so scripts can take `tail -n1`.
func runTokenCreate(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	name := fs.String("name", "", "what the token is for (required)")
	roleName := fs.String("role", "", "viewer (reads only), editor (also changes and checks keys) or admin; admin when not given")
	readOnly := fs.Bool("read-only", false, "the same as --role viewer")
	cfg, err := parseFlags(fs, env, args, "Creates an API token for the JSON API and prints it once.")
	if err != nil {
		return err
	}
	role := domain.RoleAdmin
	switch {
	case *readOnly && *roleName != "" && *roleName != string(domain.RoleViewer):
		return usageError(errors.New("--read-only means --role viewer; give one or the other"))
	case *readOnly:
		role = domain.RoleViewer
	case *roleName != "":
		if role, err = roleFlag(*roleName); err != nil {
			return err
		}
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	tok, t, err := data.Accounts().CreateToken(ctx, domain.CLIPrincipal, *name, role)
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return usageError(fmt.Errorf("--name: %s", ve.Fields["name"]))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created %s token %d (%s); it is shown only now:\n%s\n", t.Role, t.ID, t.Name, tok)
	return nil
}

func runTokenList(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print a JSON array")
	cfg, err := parseFlags(fs, env, args, "Lists API tokens (never the tokens themselves).")
	if err != nil {
		return err
	}
	db, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens, err := db.ListTokens(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		type tokenJSON struct {
			ID         int64       `json:"id"`
			Name       string      `json:"name"`
			Prefix     string      `json:"prefix"`
			Role       domain.Role `json:"role"`
			ReadOnly   bool        `json:"read_only"` // role viewer, kept for scripts older than roles
			CreatedAt  time.Time   `json:"created_at"`
			LastUsedAt *time.Time  `json:"last_used_at"`
			RevokedAt  *time.Time  `json:"revoked_at"`
		}
		opt := func(t time.Time) *time.Time {
			if t.IsZero() {
				return nil
			}
			t = t.UTC()
			return &t
		}
		out := make([]tokenJSON, 0, len(tokens))
		for _, t := range tokens {
			out = append(out, tokenJSON{t.ID, t.Name, t.Prefix, t.Role, t.Role == domain.RoleViewer, t.CreatedAt.UTC(), opt(t.LastUsedAt), opt(t.RevokedAt)})
		}
		return writeJSON(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tROLE\tCREATED\tLAST USED\tSTATE")
	for _, t := range tokens {
		access, state, used := string(t.Role), "active", "never"
		if !t.RevokedAt.IsZero() {
			state = "revoked " + t.RevokedAt.Format("2006-01-02")
		}
		if !t.LastUsedAt.IsZero() {
			used = t.LastUsedAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Prefix, access, t.CreatedAt.Format("2006-01-02 15:04"), used, state)
	}
	return tw.Flush()
}

func runTokenRevoke(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	id := fs.Int64("id", 0, "the token's id (see token list)")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// Accept `token revoke 3` as well as `token revoke --id 3`.
		args = append([]string{"--id", args[0]}, args[1:]...)
	}
	cfg, err := parseFlags(fs, env, args, "Revokes an API token: it stops working at once.")
	if err != nil {
		return err
	}
	if *id <= 0 {
		return usageError(errors.New("--id: give the id of the token to revoke (see staxkeys token list)"))
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	if err := data.Accounts().RevokeToken(ctx, domain.CLIPrincipal, *id); errors.Is(err, domain.ErrNotFound) {
		return &ExitError{Code: 1, Err: fmt.Errorf("no active token has id %d", *id)}
	} else if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "revoked token", strconv.FormatInt(*id, 10))
	return nil
}
