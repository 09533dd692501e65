package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"imglish/app"
	"imglish/vstore"
)

func init() { register(newSearchCmd) }

// errServer is a non-2xx answer from a running server.
var errServer = errors.New("server error")

func newSearchCmd(g *globals) *cobra.Command {
	var (
		images             []string
		serverURL, key     string
		k                  int
		asJSON             bool
		folder, sortBy     string
		collection, cursor string
		minScore           float64
	)
	cmd := &cobra.Command{
		Use:   `search ["TEXT"] [--image FILE]...`,
		Short: "Search images by text and/or example images, on a running server (--server) or the local store",
		Long: `search embeds the text and images, adds them (query arithmetic: words after " -" are
subtracted at half weight, e.g. search "beach -people") and prints the best matches as a table, or JSON with --json.
With --server URL it asks a running imglish serve (key from --key or $IMGLISH_API_KEY); without, it
opens the store at --data and the model at --model itself (stop the server first: the store is
single-process). --collection NAME searches a text collection with the image (image→text).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := app.SearchRequest{K: k, Sort: sortBy, Cursor: cursor}
			req.Filter.PathPrefix = folder
			if minScore > -1 {
				ms := float32(minScore)
				req.MinScore = &ms
			}
			for _, a := range args {
				req.Query = append(req.Query, textTerms(a)...)
			}
			for _, p := range images {
				b, err := os.ReadFile(p)
				if err != nil {
					return fmt.Errorf("read image: %w", err)
				}
				req.Query = append(req.Query, app.QueryTerm{Image: base64.StdEncoding.EncodeToString(b)})
			}
			if collection != "" {
				req.Target, req.Collection = "texts", collection
			}
			if len(req.Query) == 0 {
				return fmt.Errorf("search: give a text or --image FILE")
			}
			var resp app.SearchResponse
			var err error
			if serverURL != "" {
				if key == "" {
					key = os.Getenv("IMGLISH_API_KEY")
				}
				resp, err = remoteSearch(cmd, serverURL, key, req)
			} else {
				// A relative --folder means what it means to the shell: the
				// current folder's (a server resolves one against its roots).
				if folder != "" && !filepath.IsAbs(folder) {
					abs, err := filepath.Abs(folder)
					if err != nil {
						return fmt.Errorf("--folder: %w", err)
					}
					if strings.HasSuffix(folder, "/") {
						abs += "/"
					}
					req.Filter.PathPrefix = abs
				}
				resp, err = localSearch(cmd, g, req)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(resp)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tSCORE\tID\tPATH / TEXT")
			for i, h := range resp.Hits {
				what := h.Path
				if h.Text != "" {
					what = h.Text
				}
				id := h.ID
				if len(id) > 12 {
					id = id[:12]
				}
				fmt.Fprintf(tw, "%d\t%.4f\t%s\t%s\n", i+1, h.Score, id, what)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if resp.NextCursor != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: --cursor %s\n", resp.NextCursor)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&images, "image", nil, "example image file (repeatable)")
	f.StringVar(&serverURL, "server", "", "URL of a running imglish serve, e.g. http://127.0.0.1:8080")
	f.StringVar(&key, "key", "", "API key for --server (default $IMGLISH_API_KEY)")
	f.IntVarP(&k, "k", "k", 10, "number of results")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	f.StringVar(&folder, "folder", "", "only files under this path prefix (a relative one: under the current folder; with --server, under the server's index roots)")
	f.StringVar(&sortBy, "sort", "relevance", "relevance or date")
	f.StringVar(&collection, "collection", "", "search this text collection (image→text)")
	f.StringVar(&cursor, "cursor", "", "next page: the cursor printed by the previous search")
	f.Float64Var(&minScore, "min-score", -2, "drop hits scoring below this cosine")
	return cmd
}

// textTerms splits "beach at dusk -people -dogs" into a positive term and
// negative ones (weight −0.5), as the web page does.
func textTerms(s string) []app.QueryTerm {
	var out []app.QueryTerm
	var cur []string
	neg := false
	flush := func() {
		if len(cur) == 0 {
			return
		}
		t := app.QueryTerm{Text: strings.Join(cur, " ")}
		if neg {
			w := -0.5
			t.Weight = &w
		}
		out = append(out, t)
		cur = nil
	}
	for _, f := range strings.Fields(s) {
		if rest, ok := strings.CutPrefix(f, "-"); ok && rest != "" {
			flush()
			neg, cur = true, []string{rest}
			continue
		}
		cur = append(cur, f)
	}
	flush()
	return out
}

func remoteSearch(cmd *cobra.Command, base, key string, req app.SearchRequest) (app.SearchResponse, error) {
	var resp app.SearchResponse
	body, err := json.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("encode query: %w", err)
	}
	hr, err := http.NewRequestWithContext(cmd.Context(), "POST", strings.TrimRight(base, "/")+"/v1/search", bytes.NewReader(body))
	if err != nil {
		return resp, fmt.Errorf("search %s: %w", base, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if key != "" {
		hr.Header.Set("Authorization", "Bearer "+key)
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	r, err := client.Do(hr)
	if err != nil {
		return resp, fmt.Errorf("search %s: %w", base, err)
	}
	defer r.Body.Close()
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return resp, fmt.Errorf("read answer: %w", err)
	}
	if r.StatusCode != http.StatusOK {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &eb)
		return resp, fmt.Errorf("%w: %d %s: %s", errServer, r.StatusCode, eb.Error.Code, eb.Error.Message)
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return resp, fmt.Errorf("decode answer: %w", err)
	}
	return resp, nil
}

// localSearch opens the store read-only and the model through app.Open and
// runs the search in process (the same core the server runs; no HTTP).
func localSearch(cmd *cobra.Command, g *globals, req app.SearchRequest) (app.SearchResponse, error) {
	ctx := cmd.Context()
	dir, err := modelDir(g)
	if err != nil {
		return app.SearchResponse{}, err
	}
	a, err := openApp(ctx, g, app.Config{ModelDir: dir, Model: g.modelOptions(0), DataDir: g.data, ReadOnly: true, Logger: g.logger},
		"search through it instead (imglish search --server URL)")
	if err != nil {
		return app.SearchResponse{}, err
	}
	defer a.Close()
	resp, err := a.Search(ctx, req)
	if err == nil && len(resp.Hits) == 0 && req.Target != "texts" {
		if hint := otherModels(a.Store().Spaces(), resp.Model); hint != "" {
			fmt.Fprintln(cmd.ErrOrStderr(), hint)
		}
	}
	return resp, err
}

// otherModels explains an empty result when the store holds no image of
// model but images of other models (each model has a space of its own and
// a search reads only its model's), naming them; else it is "".
func otherModels(spaces []vstore.Space, model string) string {
	var others []string
	for _, sp := range spaces {
		if sp.Kind != vstore.KindImages || sp.Count == 0 {
			continue
		}
		if sp.Model == model {
			return ""
		}
		others = append(others, fmt.Sprintf("%s (%d images)", sp.Model, sp.Count))
	}
	if len(others) == 0 {
		return ""
	}
	return fmt.Sprintf("no image in this store is indexed with model %s; it holds images of %s: index with this model, or search with --model naming that one",
		model, strings.Join(others, ", "))
}
