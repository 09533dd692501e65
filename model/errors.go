package model

import "errors"

var (
	// ErrNoTokenizer: a text was given but the model folder names no
	// tokenizer and Options.Tokenizer is empty.
	ErrNoTokenizer = errors.New("model has no tokenizer")
	// ErrEmptyText: a text has no pieces after normalisation; the error
	// also wraps tokenizer.ErrEmpty.
	ErrEmptyText = errors.New("text is empty after normalisation")
	// ErrImageBatch: images of one EmbedImages call differ in size.
	ErrImageBatch = errors.New("images of different sizes in one batch")
)
