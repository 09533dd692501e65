package weaviate

import (
	"crypto/sha1" //nolint:gosec // UUIDv5 is defined on SHA-1 (RFC 9562 §5.5); not used for security.
	"encoding/hex"
)

// namespace is the UUIDv5 namespace of imglish's object ids (a random
// UUID fixed once; changing it orphans every stored object).
var namespace = [16]byte{0x6b, 0x1e, 0x0c, 0x52, 0x8f, 0x3d, 0x4a, 0x77, 0x9a, 0x41, 0x2c, 0x5e, 0x13, 0xd8, 0x60, 0xf4}

// uuid5 returns the RFC 9562 version-5 UUID of name in imglish's
// namespace, in its text form. Ids derived this way make writes
// idempotent: the same item (or key) always lands on the same object.
func uuid5(name string) string {
	h := sha1.New() //nolint:gosec // see import
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// itemUUID is the object id of an item, in the items class and in every
// image space's class (the class tells the model apart).
func itemUUID(id string) string { return uuid5("item\x00" + id) }

// textUUID is the object id of a text collection entry.
func textUUID(id string) string { return uuid5("text\x00" + id) }

// keyUUID is the object id of an application value or blob.
func keyUUID(key string) string { return uuid5("key\x00" + key) }
