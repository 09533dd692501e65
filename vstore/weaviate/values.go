package weaviate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"imglish/vstore"
)

// Value returns the application value under key (ErrNotFound).
func (s *Store) Value(key string) ([]byte, error) { return s.keyed(s.valuesClass, key) }

// Blob returns the blob under key (ErrNotFound). A blob is one Weaviate
// object, so its size is bounded by what the cluster takes in one request
// as well as by vstore.MaxBlobSize.
func (s *Store) Blob(key string) ([]byte, error) { return s.keyed(s.blobsClass, key) }

func (s *Store) keyed(class, key string) ([]byte, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	ctx, cancel := s.lookupCtx()
	defer cancel()
	o, err := s.getObject(ctx, class, keyUUID(key), false)
	if errors.Is(err, errNotFoundStatus) || (err == nil && o.Properties.Key != key) {
		return nil, fmt.Errorf("key %.40q: %w", key, vstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("key %.40q: %w", key, err)
	}
	return decodeValue(o)
}

func decodeValue(o object) ([]byte, error) {
	v, err := base64.StdEncoding.DecodeString(o.Properties.Data)
	if err != nil {
		return nil, fmt.Errorf("decode value %.40q: %w", o.Properties.Key, err)
	}
	return v, nil
}

// ScanValues calls fn for every value whose key starts with prefix, in key
// order (a cursor scan of the values class, read first, so fn may write).
func (s *Store) ScanValues(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error {
	if err := s.usable(); err != nil {
		return err
	}
	type kv struct {
		k string
		v []byte
	}
	var out []kv
	err := s.scan(ctx, s.valuesClass, false, func(o object) error {
		if !strings.HasPrefix(o.Properties.Key, prefix) {
			return nil
		}
		v, err := decodeValue(o)
		if err != nil {
			return err
		}
		out = append(out, kv{o.Properties.Key, v})
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	for _, e := range out {
		if !fn(e.k, e.v) {
			return nil
		}
	}
	return nil
}
