package server

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPI is the hand-written OpenAPI 3.1 document of the API. TestOpenAPICoversRoutes
// fails when a registered route is missing from it; every response of the
// package's HTTP tests is validated against it (status declared, body matching
// the schema, whose response objects are closed: an undocumented field fails),
// and TestOpenAPIResponses calls every operation. `make lint-openapi` lints it.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) handleOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}
