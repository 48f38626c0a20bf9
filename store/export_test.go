package store

import "database/sql"

// Pools exposes the writer and reader pools to the tests in store_test, so they can check that
// the DSN pragmas reach every connection of both.
func (db *DB) Pools() (writer, reader *sql.DB) { return db.w, db.r }
