// Package auth turns the Authorization header into a media.Principal in the
// request context. Rules about what a principal may do live in media.
package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/mediagraph/mediagraph/media"
)

// Authenticator resolves an API key; media.Service is one.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*media.Principal, error)
}

// Middleware authenticates "Authorization: Bearer sk_…". A request without
// the header passes on without a principal (media answers UNAUTHENTICATED
// where one is needed); a malformed, unknown or revoked key is refused at
// once through fail (with an UNAUTHENTICATED error, or UNAVAILABLE when
// keys cannot be checked), so a client never mistakes a bad key for an
// empty result. The key itself is never logged.
func Middleware(a Authenticator, fail func(w http.ResponseWriter, r *http.Request, err error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		scheme, key, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || key == "" {
			fail(w, r, media.Errorf(media.EUNAUTHENTICATED, "use Authorization: Bearer sk_…"))
			return
		}
		p, err := a.Authenticate(r.Context(), strings.TrimSpace(key))
		if err != nil {
			if media.ErrorCode(err) != media.EUNAUTHENTICATED {
				err = media.Unavailable("the service", err)
			}
			fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(media.WithPrincipal(r.Context(), p)))
	})
}

// Optional authenticates like Middleware but lets a request with a bad key
// pass on without a principal. The download route uses it: there, a bad
// key must look exactly like no key (the file answers 404 either way).
func Optional(a Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if strings.EqualFold(scheme, "Bearer") && key != "" {
			if p, err := a.Authenticate(r.Context(), strings.TrimSpace(key)); err == nil {
				r = r.WithContext(media.WithPrincipal(r.Context(), p))
			}
		}
		next.ServeHTTP(w, r)
	})
}
