package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mediagraph/mediagraph/media"
)

type requestIDKey struct{}

// RequestID returns the id of ctx's request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives every request an id, returned in X-Request-Id and in
// the extensions of internal errors, so a user's report finds the log line.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// statuses is the one table from error codes (CONTRACT §3) to the HTTP
// statuses of answers the server makes itself: refused requests, downloads,
// thumbnails. (A GraphQL response with errors beside data stays 200.)
var statuses = map[string]int{
	media.EUNAUTHENTICATED: http.StatusUnauthorized,
	media.EFORBIDDEN:       http.StatusForbidden,
	media.ENOTFOUND:        http.StatusNotFound,
	media.EINVALID:         http.StatusBadRequest,
	media.ECONFLICT:        http.StatusConflict,
	media.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	media.EUNSUPPORTED:     http.StatusUnsupportedMediaType,
	media.EQUOTA:           http.StatusInsufficientStorage,
	media.EUNAVAILABLE:     http.StatusServiceUnavailable,
	media.EINTERNAL:        http.StatusInternalServerError,
}

// statusOf is the HTTP status of an error code.
func statusOf(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeError answers a request with err as a GraphQL-shaped error and the
// status of its code. Internal errors are logged with the request id the
// answer carries; their text is never shown.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeStatus(w, r, statusOf(media.ErrorCode(err)), err)
}

// writeStatus is writeError with a status of the transport's own (411 for
// a missing Content-Length, say).
func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	code, msg := media.ErrorCode(err), media.ErrorMessage(err)
	ext := map[string]any{"code": code}
	if code == media.EINTERNAL || code == media.EUNAVAILABLE {
		id := RequestID(r.Context())
		s.logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "code", code, "err", err)
		if code == media.EINTERNAL {
			msg, ext["requestId"] = "internal error; quote request id "+id+" when reporting it", id
		}
	}
	if f := media.ErrorField(err); f != "" {
		ext["field"] = f
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}})
}

// internalError marks an error a resolver returned that is not a media.Error:
// a bug or an unexpected failure. Its text is logged, never shown.
type internalError struct{ err error }

func (e internalError) Error() string { return e.err.Error() }
func (e internalError) Unwrap() error { return e.err }

// markInternal is a field middleware: errors from resolvers that carry no
// code become internal errors. Errors gqlgen itself raises (parsing,
// validation, argument coercion) never pass here and stay client errors.
func markInternal(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		var me *media.Error
		var ie internalError
		switch {
		case errors.As(err, &me), errors.As(err, &ie):
		case strings.HasPrefix(graphql.GetFieldContext(ctx).Field.Name, "__"):
			err = media.Errorf(media.EINVALID, "introspection is only available in development mode")
		default:
			err = internalError{err}
		}
	}
	return res, err
}

// presenter gives every GraphQL error an extensions.code from CONTRACT.md §3
// and a safe message.
func presenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var me *media.Error
		var ie internalError
		flags := flagsFrom(ctx)
		if flags != nil {
			if errors.As(err, &me) || errors.As(err, &ie) {
				flags.resolver.Store(true)
			} else {
				flags.userInput.Store(true)
			}
		}
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			// The request ended (its client went away, or the server is
			// stopping) while a field was being resolved: no fault of ours
			// to log once per field, and no one is likely to read the
			// answer.
			gqlErr.Message = "the request ended before its answer was ready"
			gqlErr.Extensions = map[string]any{"code": media.EUNAVAILABLE}
			return gqlErr
		}
		switch {
		case errors.As(err, &me):
			if me.Code == media.EINTERNAL || me.Code == media.EUNAVAILABLE {
				logger.ErrorContext(ctx, "request failed", "code", me.Code, "path", gqlErr.Path.String(), "err", me)
			}
			gqlErr.Message = me.Message
			gqlErr.Extensions = map[string]any{"code": me.Code}
			if me.Field != "" {
				gqlErr.Extensions["field"] = me.Field
			}
		case errors.As(err, &ie):
			return internal(ctx, logger, gqlErr, ie.err)
		default:
			// gqlgen's own errors: syntax, validation, coercion of arguments,
			// complexity: the client sent something wrong.
			// Suggestions are off, but some of gqlparser's rules still
			// offer them; they would reveal the schema outside dev mode.
			if i := strings.Index(gqlErr.Message, " Did you mean"); i > 0 {
				gqlErr.Message = gqlErr.Message[:i]
			}
			// gqlgen's own message repeats the whole body.
			if strings.HasPrefix(gqlErr.Message, "json request body could not be decoded") {
				gqlErr.Message = "the request body is not a JSON object with a query (and variables)"
			}
			ext := map[string]any{"code": media.EINVALID}
			if c, ok := gqlErr.Extensions["code"]; ok && c != media.EINVALID {
				ext["reason"] = c
			}
			gqlErr.Extensions = ext
		}
		if me != nil && me.Code == media.EINTERNAL {
			return internal(ctx, logger, gqlErr, me)
		}
		return gqlErr
	}
}

func internal(ctx context.Context, logger *slog.Logger, gqlErr *gqlerror.Error, err error) *gqlerror.Error {
	id := RequestID(ctx)
	logger.ErrorContext(ctx, "internal error", "path", gqlErr.Path.String(), "err", err)
	gqlErr.Message = fmt.Sprintf("internal error; quote request id %s when reporting it", id)
	gqlErr.Extensions = map[string]any{"code": media.EINTERNAL, "requestId": id}
	return gqlErr
}

// recoverFunc turns a panic in a resolver into an internal error.
func recoverFunc(ctx context.Context, p any) error {
	return internalError{fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
}
