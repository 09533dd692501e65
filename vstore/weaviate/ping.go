package weaviate

import (
	"context"
	"fmt"
)

// Ping reports whether the cluster answers reads of the store (a count of
// the items class, with the usual retries across nodes within ctx): nil,
// or an error wrapping ErrUnavailable (vstore.ErrUnavailable) or ErrClosed.
// The server's /readyz calls it, so that a load balancer stops sending
// requests to an imglish whose cluster is out of reach.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.usable(); err != nil {
		return err
	}
	if _, err := s.count(ctx, s.itemsClass); err != nil {
		return fmt.Errorf("weaviate: ping: %w", err)
	}
	return nil
}
