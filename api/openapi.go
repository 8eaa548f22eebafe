package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"

	"github.com/gin-gonic/gin"
)

// OpenAPI is the OpenAPI 3.1 document of every route the router serves,
// the file api/openapi.yaml; GET /openapi.yaml answers it.
//
//go:embed openapi.yaml
var OpenAPI []byte

// openAPIETag names this build's document, so a client that keeps it
// revalidates with If-None-Match instead of downloading it again.
var openAPIETag = func() string {
	sum := sha256.Sum256(OpenAPI)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// openAPI serves the document without a key: it describes the API, and
// holds nothing a caller could not learn from the README.
func (s *server) openAPI(c *gin.Context) {
	c.Header("ETag", openAPIETag)
	// no-cache: keep it, but ask again, since an upgrade changes it.
	c.Header("Cache-Control", "no-cache")
	if c.GetHeader("If-None-Match") == openAPIETag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/yaml", OpenAPI)
}
