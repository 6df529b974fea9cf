package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/uptrace/bun/driver/pgdriver"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mediagraph/mediagraph/media"
)

// wrap turns a driver error into a media error. thing names what the query
// was about ("file", "bucket") for the messages, which never contain SQL:
//
//   - no row: NOT_FOUND "<thing> not found";
//   - unique or primary-key violation: CONFLICT "conflicts with an existing <thing>";
//   - connection refused, lost or timed out, server starting or shutting
//     down, lock or serialization failure: UNAVAILABLE (safe to retry);
//   - anything else: an internal error wrapping err.
//
// Errors that already are media errors pass unchanged.
func wrap(err error, thing string) error {
	if err == nil {
		return nil
	}
	var me *media.Error
	switch {
	case errors.As(err, &me):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return media.Errorf(media.ENOTFOUND, "%s not found", thing)
	case isUniqueViolation(err):
		return &media.Error{Code: media.ECONFLICT, Message: "conflicts with an existing " + thing, Err: err}
	case isUnavailable(err):
		return media.Unavailable("database", err)
	}
	return fmt.Errorf("database: %s: %w", thing, err)
}

func isUniqueViolation(err error) bool {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		return pgErr.Field('C') == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// isUnavailable reports errors that say the database could not be reached
// or could not serve the query now, and that a retry may not meet.
func isUnavailable(err error) bool {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		code := pgErr.Field('C')
		switch {
		case strings.HasPrefix(code, "08"): // connection exception
			return true
		case strings.HasPrefix(code, "53"): // insufficient resources, too many connections
			return true
		}
		switch code {
		case "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now (starting up)
			"57014",          // query canceled (statement timeout)
			"40001", "40P01", // serialization failure, deadlock
			"55P03": // lock not available
			return true
		}
		return false
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	}
	return false
}
