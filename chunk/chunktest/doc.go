// Package chunktest holds the conformance suite that every chunk.Store
// engine passes, and helpers for tests that need chunks.
//
// # Use
//
//	func TestSuite(t *testing.T) {
//		chunktest.Suite(t, func(t *testing.T, dir string) chunk.Store {
//			s, err := myengine.Open(dir)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		}, chunktest.WithCorrupt(corruptOnDisk))
//	}
//
// The open function is called more than once with the same dir to check
// persistence; the suite closes every store it opens.
package chunktest
