// Package migrations holds the numbered SQL migrations of the staxkeys database, embedded so the
// binary carries its own schema. The store applies them with goose at start-up.
package migrations

import "embed"

// FS holds the *.sql files, named NNNNN_what.sql; goose orders them by that number.
//
//go:embed *.sql
var FS embed.FS
