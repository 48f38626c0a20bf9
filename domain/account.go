package domain

import "time"

// Admin is a person who may log in.
type Admin struct {
	ID                int64
	Email             string
	PasswordHash      string
	CreatedAt         time.Time
	PasswordChangedAt time.Time
}

// Token is an API token as stored: its hash, never the token itself.
type Token struct {
	ID         int64
	Name       string
	Prefix     string
	Hash       []byte
	ReadOnly   bool
	CreatedAt  time.Time
	CreatedBy  string
	LastUsedAt time.Time
	RevokedAt  time.Time
}
