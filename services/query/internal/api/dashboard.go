package api

import (
	"embed"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// static holds the dashboard: one HTML page, its stylesheet, its script and its icon. They
// are plain files with no build step, embedded so that the binary is all a deployment needs.
//
//go:embed static
var static embed.FS

// asset is one embedded file and the route that serves it.
type asset struct {
	route       string
	contentType string
	body        []byte
}

// The dashboard's files. The page asks for the assets by these routes.
var (
	dashboardPage   = mustAsset(RouteDashboard, "static/index.html", "text/html; charset=utf-8")
	dashboardAssets = []asset{
		mustAsset("/assets/dashboard.css", "static/dashboard.css", "text/css; charset=utf-8"),
		mustAsset("/assets/dashboard.js", "static/dashboard.js",
			"text/javascript; charset=utf-8"),
		mustAsset("/assets/favicon.svg", "static/favicon.svg", "image/svg+xml"),
	}
)

// contentSecurityPolicy lets the page load only its own script and stylesheet and call only
// this service: no inline code, no other origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

// mustAsset reads an embedded file; a missing one is a build mistake, caught by any test.
func mustAsset(route, name, contentType string) asset {
	b, err := static.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("api: embedded dashboard file %s: %v", name, err))
	}
	return asset{route: route, contentType: contentType, body: b}
}

// page serves one embedded file. no-cache makes browsers revalidate, so a new release's
// page and script are never mixed with an old one's.
func page(a asset) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		c.Data(http.StatusOK, a.contentType, a.body)
	}
}
