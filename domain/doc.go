// Package domain holds staxkeys' vocabulary: what a registered key is (its verdict, its checks
// and their outcomes), who acts on it (admins and API tokens), and the errors every layer
// speaks. It imports nothing of staxkeys, so every other package may use it; the database
// (store), the classifier (staxapi), the services (keys, accounts) and the pages (web, views)
// all pass these types rather than their own.
package domain
