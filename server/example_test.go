package server_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"

	"imglish/server"
)

// ExampleNew builds a server without a model or store (readyz answers 503
// until both are given in Deps) and calls it through httptest. `imglish serve`
// opens an app.App (app.Open) and passes its encoder, catalog and indexer, then calls Run.
func ExampleNew() {
	srv, err := server.New(server.Deps{DataDir: "/tmp/imglish-example"}, server.Options{
		Keys:   []server.APIKey{{Name: "app", Key: "0123456789abcdef-write", Scope: server.ScopeWrite}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, string(body))
	}
	// Output:
	// /healthz 200 {"status":"ok"}
	// /readyz 503 {"error":{"code":"unavailable","message":"not ready"}}
}
