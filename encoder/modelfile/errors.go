package modelfile

import "errors"

var (
	// ErrNoManifest means the folder has no model.json.
	ErrNoManifest = errors.New("modelfile: no model.json in folder")
	// ErrInvalid means model.json exists but does not describe a usable model.
	ErrInvalid = errors.New("modelfile: invalid manifest")
	// ErrChecksum means a file of the model folder does not match the sha256 recorded in model.json.
	ErrChecksum = errors.New("modelfile: checksum mismatch")
)
