package api_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/goccy/go-yaml"
)

// specFile is the API document, from this package's directory.
var specFile = filepath.Join("..", "..", "..", "..", "api", "openapi.yaml")

// specDoc is the part of an OpenAPI document that says which server serves which operation.
type specDoc struct {
	Servers []specServer                         `yaml:"servers"`
	Paths   map[string]map[string]specPathMember `yaml:"paths"`
}

// specPathMember is one key of a path item: an operation or the path's servers. Only the
// servers matter here: a path item's own, or an operation's.
type specPathMember struct {
	Servers []specServer `yaml:"servers"`
	// List holds the value when the member is the path item's servers list itself.
	List []specServer `yaml:"-"`
}

// UnmarshalYAML reads either an object (an operation) or a list (the path's servers).
func (m *specPathMember) UnmarshalYAML(b []byte) error {
	if err := yaml.Unmarshal(b, &m.List); err == nil {
		return nil
	}
	type plain specPathMember
	return yaml.Unmarshal(b, (*plain)(m))
}

type specServer struct {
	URL     string `yaml:"url"`
	Service string `yaml:"x-service"`
}

// httpMethods are the path item keys that name operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedRoutes lists "METHOD /path" for every operation the document gives the service.
func documentedRoutes(t *testing.T, service string) []string {
	t.Helper()
	b, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatalf("read the API document: %v", err)
	}
	var doc specDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse %s: %v", specFile, err)
	}

	var out []string
	for path, item := range doc.Paths {
		// Servers are inherited: operation, else path item, else document.
		servers := doc.Servers
		if s, ok := item["servers"]; ok {
			servers = s.List
		}
		for key, op := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			opServers := servers
			if len(op.Servers) > 0 {
				opServers = op.Servers
			}
			if slices.ContainsFunc(opServers, func(s specServer) bool {
				return s.Service == service
			}) {
				out = append(out, strings.ToUpper(key)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestEveryRouteIsDocumented compares the routes the handler serves with the operations
// api/openapi.yaml documents for the query service, both ways. The suite in tests/openapi
// checks the answers themselves against a running service.
func TestEveryRouteIsDocumented(t *testing.T) {
	t.Parallel()
	h, _ := fixture(t, at(10, 22, 5, 0))
	engine, ok := h.(*gin.Engine)
	if !ok {
		t.Fatalf("api.New returned %T, want *gin.Engine to list its routes", h)
	}
	param := regexp.MustCompile(`[:*](\w+)`)
	var served []string
	for _, r := range engine.Routes() {
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(served)

	documented := documentedRoutes(t, "query")
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not documented for the query service in %s", r, specFile)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is documented for the query service but not served", r)
		}
	}
}
