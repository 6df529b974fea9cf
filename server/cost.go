package server

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/mediagraph/mediagraph/media"
)

// Reasons of refused operations, in extensions.reason (the code is
// BAD_USER_INPUT).
const (
	errComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"
	errDepthLimit      = "DEPTH_LIMIT_EXCEEDED"
)

func init() {
	errcode.RegisterErrorType(errComplexityLimit, errcode.KindProtocol)
	errcode.RegisterErrorType(errDepthLimit, errcode.KindProtocol)
}

// maxNestedConnections caps how many connections (files, attachments,
// comments…) an operation nests inside each other: a page of posts with
// their attachments is two; files → bucket → files → bucket → files is
// three, and nothing a client needs goes further.
const maxNestedConnections = 3

// costLimit is the one walk of a GraphQL document the server makes before
// gqlgen validates it (gqlgen's own complexity count and gqlparser's
// validation walk every fragment spread again, so a document of fragments
// spreading each other twice costs 2^n): each fragment is costed once
// (memoised), so the walk is linear in the document. An operation's cost is
// the number of fields it would resolve: a connection's fields count once
// per element of a page (first/last, or the default page size), so nested
// lists multiply. Every operation and fragment of the document must stay
// within the node budget, the depth limit (introspection fields are exempt:
// they are cheap, of fixed size, and gqlparser bounds their nesting) and the
// connection nesting cap. The walk runs for every request, documents from
// the query cache included: page sizes may come from variables.
type costLimit struct {
	schema     *ast.Schema
	maxNodes   int64
	maxDepth   int
	tokenLimit int
	cache      *docCache
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = costLimit{}

func (costLimit) ExtensionName() string                          { return "CostLimit" }
func (costLimit) Validate(schema graphql.ExecutableSchema) error { return nil }

func (c costLimit) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	// A cached document passed with the variables of the request that
	// cached it, but its cost depends on this request's (first: $n,
	// ids: $ids): a cache hit skips the parse, never the walk.
	doc, ok := c.cache.Get(ctx, raw.Query)
	if !ok {
		var err error
		if doc, err = parser.ParseQueryWithTokenLimit(&ast.Source{Input: raw.Query}, c.tokenLimit); err != nil {
			return nil // gqlgen parses it again and says what is wrong
		}
	}
	gerr, _ := c.check(doc, raw.Variables)
	return gerr
}

// check costs a parsed document; it returns the walk for tests.
func (c costLimit) check(doc *ast.QueryDocument, vars map[string]any) (*gqlerror.Error, *costWalk) {
	w := &costWalk{schema: c.schema, vars: vars, frags: doc.Fragments, memo: map[string]*cost{}, defaults: map[string][]*ast.Value{}}
	for _, op := range doc.Operations {
		for _, v := range op.VariableDefinitions {
			if v.DefaultValue != nil {
				w.defaults[v.Variable] = append(w.defaults[v.Variable], v.DefaultValue)
			}
		}
	}
	worst := cost{}
	for _, op := range doc.Operations {
		root := c.schema.Query
		switch op.Operation {
		case ast.Mutation:
			root = c.schema.Mutation
		case ast.Subscription:
			root = c.schema.Subscription
		}
		if root == nil {
			continue
		}
		worst = worst.max(w.set(op.SelectionSet, root.Name))
	}
	for _, f := range doc.Fragments {
		worst = worst.max(w.fragment(f.Name))
	}
	switch {
	case w.cycle:
		return limitError("", "fragments spread each other in a cycle"), w
	case worst.nodes > c.maxNodes:
		return limitError(errComplexityLimit, "the operation would resolve more than "+strconv.FormatInt(c.maxNodes, 10)+
			" fields (each field of a list counts once per element; ask for smaller pages or fewer nested lists)"), w
	case worst.depth > c.maxDepth:
		return limitError(errDepthLimit, "the operation is nested deeper than "+strconv.Itoa(c.maxDepth)+" levels"), w
	case worst.conns > maxNestedConnections:
		return limitError(errComplexityLimit, "the operation nests more than "+strconv.Itoa(maxNestedConnections)+" lists (connections) inside each other"), w
	}
	return nil, w
}

func limitError(reason, msg string) *gqlerror.Error {
	err := &gqlerror.Error{Message: msg}
	if reason != "" {
		errcode.Set(err, reason)
	} else {
		errcode.Set(err, errcode.ValidationFailed)
	}
	return err
}

// cost is what a selection set would resolve: nodes fields in all, at most
// depth levels deep (introspection aside), with conns connections nested.
type cost struct {
	nodes int64
	depth int
	conns int
}

func (a cost) max(b cost) cost {
	return cost{nodes: max(a.nodes, b.nodes), depth: max(a.depth, b.depth), conns: max(a.conns, b.conns)}
}

// saturate keeps node counts far from overflow: anything above it is
// refused anyway.
const saturate = int64(1) << 40

type costWalk struct {
	schema *ast.Schema
	vars   map[string]any
	// defaults are the default values of variables the request leaves
	// out, from every operation (a fragment may run in any of them).
	defaults map[string][]*ast.Value
	frags    ast.FragmentDefinitionList
	memo     map[string]*cost // nil value: being walked (a cycle if met again)
	cycle    bool
	steps    int // selection sets walked (tests check the walk is linear)
}

func (w *costWalk) fragment(name string) cost {
	if c, ok := w.memo[name]; ok {
		if c == nil {
			w.cycle = true
			return cost{}
		}
		return *c
	}
	f := w.frags.ForName(name)
	if f == nil {
		return cost{}
	}
	w.memo[name] = nil
	c := w.set(f.SelectionSet, f.TypeCondition)
	w.memo[name] = &c
	return c
}

func (w *costWalk) set(set ast.SelectionSet, typeName string) cost {
	w.steps++
	var total cost
	for _, sel := range set {
		var c cost
		switch s := sel.(type) {
		case *ast.Field:
			c = w.field(s, typeName)
		case *ast.InlineFragment:
			t := typeName
			if s.TypeCondition != "" {
				t = s.TypeCondition
			}
			c = w.set(s.SelectionSet, t)
		case *ast.FragmentSpread:
			c = w.fragment(s.Name)
		}
		total.nodes = min(total.nodes+c.nodes, saturate)
		total.depth = max(total.depth, c.depth)
		total.conns = max(total.conns, c.conns)
	}
	return total
}

func (w *costWalk) field(f *ast.Field, typeName string) cost {
	if len(f.SelectionSet) == 0 {
		return cost{nodes: 1, depth: 1}
	}
	if strings.HasPrefix(f.Name, "__") {
		// Introspection: counted, but not against the depth limit.
		c := w.set(f.SelectionSet, "")
		return cost{nodes: min(1+c.nodes, saturate)}
	}
	var childType string
	if t := w.schema.Types[typeName]; t != nil {
		if def := t.Fields.ForName(f.Name); def != nil {
			childType = def.Type.Name()
		}
	}
	c := w.set(f.SelectionSet, childType)
	n := w.pageSize(f, childType)
	conns := c.conns
	if strings.HasSuffix(childType, "Connection") {
		conns++
	}
	return cost{nodes: min(1+n*c.nodes, saturate), depth: c.depth + 1, conns: conns}
}

// pageSize is how many elements a field's selection is resolved for: a
// connection's first or last (the default page size when neither is
// given), the length of an ids list, otherwise 1.
func (w *costWalk) pageSize(f *ast.Field, childType string) int64 {
	for _, name := range []string{"first", "last"} {
		if a := f.Arguments.ForName(name); a != nil {
			if n, ok := w.intValue(a.Value); ok {
				return min(max(n, 1), media.MaxPageSize)
			}
		}
	}
	if a := f.Arguments.ForName("ids"); a != nil {
		if a.Value.Kind == ast.ListValue {
			return min(max(int64(len(a.Value.Children)), 1), media.MaxPageSize)
		}
		if a.Value.Kind == ast.Variable {
			if v, given := w.vars[a.Value.Raw]; given {
				if l, ok := v.([]any); ok {
					return min(max(int64(len(l)), 1), media.MaxPageSize)
				}
			} else if ds := w.defaults[a.Value.Raw]; len(ds) > 0 {
				n := int64(1)
				for _, d := range ds {
					if d.Kind != ast.ListValue {
						return media.MaxPageSize
					}
					n = max(n, int64(len(d.Children)))
				}
				return min(n, media.MaxPageSize)
			}
		}
		return media.MaxPageSize
	}
	if strings.HasSuffix(childType, "Connection") {
		return media.DefaultPageSize
	}
	return 1
}

// intValue reads an Int argument given literally or as a variable (this
// request's value, or when it gives none the largest default).
func (w *costWalk) intValue(v *ast.Value) (int64, bool) {
	switch v.Kind {
	case ast.IntValue:
		n, err := strconv.ParseInt(v.Raw, 10, 64)
		return n, err == nil
	case ast.Variable:
		x, given := w.vars[v.Raw]
		if !given {
			var best int64
			found := false
			for _, d := range w.defaults[v.Raw] {
				if d.Kind == ast.IntValue {
					if n, err := strconv.ParseInt(d.Raw, 10, 64); err == nil && (!found || n > best) {
						best, found = n, true
					}
				}
			}
			return best, found
		}
		switch x := x.(type) {
		case float64:
			return int64(x), true
		case int64:
			return x, true
		case int:
			return int64(x), true
		case json.Number:
			n, err := x.Int64()
			return n, err == nil
		case string: // gqlparser and gqlgen take "100" for an Int
			n, err := strconv.ParseInt(x, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
