package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn/ui/core"
)

// static holds the assets the pages load: htmx (vendored, see
// static/htmx.LICENSE), the page script and the stylesheet. Nothing is
// loaded from anywhere else.
//
//go:embed static/htmx.min.js static/htmx.LICENSE static/app.js static/app.css
var static embed.FS

// assetDigest is a digest of the assets, added to their URLs (?v=) so
// that a new binary's assets are fetched again while an unchanged one's
// are cached.
func assetDigest() string {
	h := sha256.New()
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := static.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func (h *handler) mountStatic(e *gin.Engine) {
	for _, name := range []string{"htmx.min.js", "htmx.LICENSE", "app.js", "app.css"} {
		b, err := static.ReadFile(path.Join("static", name))
		if err != nil {
			panic("ui: embedded asset missing: " + name) // a build mistake, caught by every test
		}
		ctype := map[string]string{
			".js":      "text/javascript; charset=utf-8",
			".css":     "text/css; charset=utf-8",
			".LICENSE": "text/plain; charset=utf-8",
		}[path.Ext(name)]
		h.route(&e.RouterGroup, http.MethodGet, "/static/"+name, core.Open, func(c *gin.Context) {
			c.Header("X-Content-Type-Options", "nosniff")
			if c.Query("v") == h.assets {
				c.Header("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				c.Header("Cache-Control", "no-cache")
			}
			c.Data(http.StatusOK, ctype, b)
		})
	}
}
