package media

import (
	"errors"
	"fmt"
)

// Error codes, as in CONTRACT.md §3. Transports map them (GraphQL
// extensions.code, HTTP status).
const (
	EUNAUTHENTICATED = "UNAUTHENTICATED"
	EFORBIDDEN       = "FORBIDDEN"
	ENOTFOUND        = "NOT_FOUND"
	EINVALID         = "BAD_USER_INPUT"
	ECONFLICT        = "CONFLICT"
	ETOOLARGE        = "PAYLOAD_TOO_LARGE"
	EUNSUPPORTED     = "UNSUPPORTED_MEDIA_TYPE"
	EQUOTA           = "QUOTA_EXCEEDED"
	EUNAVAILABLE     = "UNAVAILABLE"
	EINTERNAL        = "INTERNAL"
)

// Error is an application error whose message is safe to show to clients.
// Anything that is not an *Error is internal: it is logged, and the client
// only sees a generic message with a request id.
type Error struct {
	Code    string
	Message string
	// Field names the offending argument for BAD_USER_INPUT, when known.
	Field string
	// Err is an underlying cause, never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a BAD_USER_INPUT error about one input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a dependency failure that is safe to retry.
func Unavailable(what string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: what + " is unavailable, please retry", Err: err}
}

// ErrorCode returns the code of err, or INTERNAL if err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the input field err is about, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// IsNotFound reports whether err has code NOT_FOUND.
func IsNotFound(err error) bool { return ErrorCode(err) == ENOTFOUND }

// withPrefix returns err with its client message prefixed ("file 2: …"),
// keeping its code; other errors pass unchanged.
func withPrefix(err error, prefix string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	e2 := *e
	e2.Message = prefix + ": " + e.Message
	return &e2
}

// withField returns err naming the input field it is about, keeping its code.
func withField(err error, field string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	e2 := *e
	e2.Field = field
	return &e2
}
