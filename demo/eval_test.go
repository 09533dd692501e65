package demo

import (
	"testing"

	"imglish/model/modeltest"
)

// TestEvalTextWindow: demo eval embeds captions and prompts as every other
// door does (server's TestTextWindowEveryDoor): a text longer than the
// 64-token window gets the vector of <s> + its first 62 pieces + </s>.
func TestEvalTextWindow(t *testing.T) {
	m := openDemo(t)
	ref := modeltest.Reference(t, m, modeltest.LongText)
	vecs, err := embedTexts(t.Context(), m, []string{"a red circle", modeltest.LongText})
	if err != nil {
		t.Fatal(err)
	}
	modeltest.Check(t, "demo eval embedTexts", vecs[1], ref)
}
