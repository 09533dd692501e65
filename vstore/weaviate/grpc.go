package weaviate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/db"
	grpcbatch "github.com/weaviate/weaviate-go-client/v5/weaviate/grpc/batch"
	"github.com/weaviate/weaviate/entities/models"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"imglish/vstore"
)

// grpcNodes are the store's gRPC connections, one per node, for what goes
// over Weaviate's gRPC API: object batches (BatchObjects, the request built
// by weaviate-go-client's batch encoder, grpc/batch, the one the client's
// ObjectsBatcher uses) and exact scans (Search with a cursor), vectors as
// raw float32 bytes instead of JSON numbers. The connections are this
// package's own, so that Close closes them and a failed call moves to the
// next node under the same rule as a REST request (grpcCall).
type grpcNodes struct {
	addrs   []string
	conns   []*grpc.ClientConn
	nodes   []pb.WeaviateClient
	enc     grpcbatch.Batch
	headers metadata.MD
}

// newGRPCNodes dials (lazily: grpc.NewClient connects on first use)
// every address, host:port in the order of Options.URLs.
func newGRPCNodes(addrs []string, apiKey, version string) (*grpcNodes, error) {
	g := &grpcNodes{addrs: addrs}
	for _, a := range addrs {
		conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxAnswer)))
		if err != nil {
			g.close()
			return nil, fmt.Errorf("%w: grpc address %q: %w", ErrConfig, a, err)
		}
		g.conns = append(g.conns, conn)
		g.nodes = append(g.nodes, pb.NewWeaviateClient(conn))
	}
	// The encoder asks the server's version only to choose raw vector
	// bytes (Weaviate ≥ 1.22.6) over a repeated float field.
	g.enc = grpcbatch.New(db.NewGRPCVersionSupport(db.NewVersionProvider(func() string { return version })))
	if apiKey != "" {
		g.headers = metadata.Pairs("authorization", "Bearer "+apiKey)
	}
	return g, nil
}

func (g *grpcNodes) close() {
	for _, c := range g.conns {
		c.Close()
	}
}

// retryableCode reports whether a gRPC status may be cured by a retry on
// another node: the node unreachable or going away, overloaded, or slow.
func retryableCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// grpcBatch sends one batch (objs, built from chunk by modelObject) and
// returns an error for each object Weaviate refused (grpcCall retries the
// request itself).
func (s *Store) grpcBatch(ctx context.Context, chunk []object, objs []*models.Object) ([]error, error) {
	g := s.grpc
	req := &pb.BatchObjectsRequest{ConsistencyLevel: g.enc.GetConsistencyLevel(s.cl)}
	var err error
	if req.Objects, err = g.enc.GetBatchObjects(objs); err != nil {
		return nil, fmt.Errorf("encode %d objects: %w: %w", len(objs), ErrRejected, err)
	}
	var reply *pb.BatchObjectsReply
	err = s.grpcCall(ctx, "grpc BatchObjects", "weaviate grpc batch failed, retrying", func(ctx context.Context, node pb.WeaviateClient) (err error) {
		reply, err = node.BatchObjects(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range reply.GetErrors() {
		id := "?"
		if n := int(e.GetIndex()); n >= 0 && n < len(chunk) {
			id = chunk[n].ID
		}
		errs = append(errs, fmt.Errorf("object %s: %s", id, e.GetError()))
	}
	return errs, nil
}

// grpcCall makes one gRPC call on a node (each attempt within the
// attempt timeout, with the API key), retried on the next node with the
// client's backoff (client.retryAfter, as REST requests are) after a
// transport failure or a status a retry may cure (retryableCode, or a
// transient message). An answer that refuses the request is not retried:
// ErrRejected, with errNotFoundStatus when the class does not exist.
func (s *Store) grpcCall(ctx context.Context, op, msg string, call func(context.Context, pb.WeaviateClient) error) error {
	g, c := s.grpc, s.c
	pos := c.next.Load()
	delay := c.backoff
	for attempt := 0; ; attempt++ {
		i := int(pos % uint32(len(g.nodes)))
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		if g.headers != nil {
			actx = metadata.NewOutgoingContext(actx, g.headers)
		}
		err := call(actx, g.nodes[i])
		cancel()
		if err == nil {
			return nil
		}
		st, _ := status.FromError(err)
		last := &RequestError{Op: op, URL: g.addrs[i], Err: err}
		switch {
		case st.Code() == codes.NotFound || strings.Contains(st.Message(), "could not find class") || strings.Contains(st.Message(), "no such class"):
			last.Err = errors.Join(ErrRejected, errNotFoundStatus, err)
			return last
		case !retryableCode(st.Code()) && !transient(st.Message()):
			last.Err = errors.Join(ErrRejected, err)
			return last
		}
		last.Err = errors.Join(ErrUnavailable, err)
		var rerr error
		if pos, rerr = c.retryAfter(ctx, attempt, pos, &delay, msg, last); rerr != nil {
			return rerr
		}
	}
}

// modelObject is o as the client's batch encoder takes it: the properties
// as a map holding what REST's JSON would (props' json names, zero values
// omitted as omitempty omits them), with Go types the encoder maps to the
// class's data types (strings, []string, int64, int).
func (o object) modelObject() *models.Object {
	m := map[string]any{}
	v := reflect.ValueOf(o.Properties)
	t := v.Type()
	for i := range t.NumField() {
		f := v.Field(i)
		if f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0) {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[name] = f.Interface()
	}
	return &models.Object{Class: o.Class, ID: strfmt.UUID(o.ID), Vector: o.Vector, Properties: m}
}

// scanPage is how many objects one gRPC scan request reads.
const scanPage = 1000

// grpcScan is scan with vectors over gRPC Search with a cursor (after): the
// vectors come as raw float32 bytes instead of JSON numbers, which is most
// of an exact scan's bytes and of both sides' work. It fills what scan's
// consumers read: the id, the vector, and the item or text properties.
func (s *Store) grpcScan(ctx context.Context, class string, fn func(object) error) error {
	props := scanProps(class, s)
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		req := &pb.SearchRequest{
			Collection: class, Limit: scanPage, After: after,
			Metadata:    &pb.MetadataRequest{Uuid: true, Vector: true},
			Properties:  &pb.PropertiesRequest{NonRefProperties: props},
			Uses_123Api: true, Uses_125Api: true, Uses_127Api: true,
		}
		var reply *pb.SearchReply
		err := s.grpcCall(ctx, "grpc Search", "weaviate grpc scan failed, retrying", func(ctx context.Context, node pb.WeaviateClient) (err error) {
			reply, err = node.Search(ctx, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("scan %s: %w", class, err)
		}
		res := reply.GetResults()
		for _, r := range res {
			o, err := scanObject(r)
			if err != nil {
				return fmt.Errorf("scan %s: %w", class, err)
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(res) < scanPage {
			return nil
		}
		after = res[len(res)-1].GetMetadata().GetId()
	}
}

// scanProps are the properties a scan of class returns: a text
// collection's id and text, else an item's id and JSON.
func scanProps(class string, s *Store) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sp := range s.spaces {
		if sp.class == class && sp.Kind == vstore.KindTexts {
			return []string{"textId", "text"}
		}
	}
	return []string{"itemId", "data"}
}

// scanObject is one gRPC search result as an object.
func scanObject(r *pb.SearchResult) (object, error) {
	md := r.GetMetadata()
	o := object{ID: md.GetId()}
	if b := md.GetVectorBytes(); len(b) > 0 {
		if len(b)%4 != 0 {
			return o, fmt.Errorf("object %s: vector of %d bytes: %w", o.ID, len(b), ErrRejected)
		}
		o.Vector = make([]float32, len(b)/4)
		for i := range o.Vector {
			o.Vector[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	} else {
		o.Vector = md.GetVector()
	}
	f := r.GetProperties().GetNonRefProps().GetFields()
	text := func(name string) string { return f[name].GetTextValue() }
	o.Properties = props{ItemID: text("itemId"), Data: text("data"), TextID: text("textId"), Text: text("text")}
	return o, nil
}
