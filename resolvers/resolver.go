// Package resolvers holds the GraphQL resolvers: each converts its
// arguments, calls media.Service and returns. Rules live in media.
package resolvers

import "github.com/mediagraph/mediagraph/media"

// Resolver holds the dependencies of every resolver.
type Resolver struct {
	Media *media.Service
}
