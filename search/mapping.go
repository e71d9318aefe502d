package search

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/mapping"
)

// FormatVersion is the index format. An index of another format (older
// mapping, analyzers or document rules) is rebuilt at Open.
const FormatVersion = "clusterf-search-5"

// Index fields. A document is one name in the namespace (a dentry; a
// content conflict copy is a document of its own).
const (
	fName     = "name"      // display name, cf_words (stored: highlighting)
	fSuffix   = "sfx"       // proper suffixes of the name's words (substrings)
	fPrefix   = "pre"       // proper prefixes of the name's words, up to maxPrefixGram characters
	fPath     = "path"      // display path, cf_words (stored)
	fAnc      = "anc"       // ancestor directory ids (under:)
	fInode    = "ino"       // the inode id
	fKind     = "kind"      // file, dir, symlink, fifo, ...
	fExt      = "ext"       // extension, lower case, no dot
	fType     = "type"      // MIME type and its major type ("image/jpeg", "image")
	fMime     = "mime"      // stored MIME type
	fSize     = "size"      // bytes
	fMtime    = "mtime"     // modification time
	fNameSort = "name_sort" // lower-case name (sort by name)
	fXattr    = "xattr"     // xattr names and printable values
	fTag      = "tag"       // user.xdg.tags / user.tags
	fCamera   = "camera"    // EXIF make and model
	fLens     = "lens"      // EXIF lens
	fTaken    = "taken"     // EXIF date taken
	fGPS      = "gps"       // EXIF has a position
	fArtist   = "artist"    // audio/video tags
	fAlbum    = "album"
	fTitle    = "title"
	fGenre    = "genre"
	fDuration = "duration" // seconds
	fText     = "text"     // extracted text (stored: snippets)
	fExtract  = "x"        // stored-only: the extraction (JSON) this document carries
	fFP       = "fp"       // fingerprint (doc values) of the state it was built from ("" = extraction pending)
	fVer      = "ver"      // stored-only: content version the extraction is of
)

func textField(analyzer string, store, vectors bool) *mapping.FieldMapping {
	fm := bleve.NewTextFieldMapping()
	fm.Analyzer = analyzer
	fm.Store = store
	fm.IncludeTermVectors = vectors
	fm.IncludeInAll = false
	fm.DocValues = false
	return fm
}

func keywordField(store, docValues bool) *mapping.FieldMapping {
	fm := textField(keyword.Name, store, false)
	fm.DocValues = docValues
	return fm
}

func storedOnly() *mapping.FieldMapping {
	fm := bleve.NewTextFieldMapping()
	fm.Index = false
	fm.Store = true
	fm.IncludeInAll = false
	fm.IncludeTermVectors = false
	fm.DocValues = false
	return fm
}

func numericField(store bool) *mapping.FieldMapping {
	fm := bleve.NewNumericFieldMapping()
	fm.Store = store
	fm.IncludeInAll = false
	fm.DocValues = true
	return fm
}

func dateField(store bool) *mapping.FieldMapping {
	fm := bleve.NewDateTimeFieldMapping()
	fm.Store = store
	fm.IncludeInAll = false
	fm.DocValues = true
	return fm
}

// newMapping is the index mapping: a static document mapping (nothing is
// indexed that is not listed here).
func newMapping() mapping.IndexMapping {
	dm := bleve.NewDocumentStaticMapping()
	add := func(name string, fm *mapping.FieldMapping) { dm.AddFieldMappingsAt(name, fm) }
	add(fName, textField(analyzerWords, true, true))
	add(fSuffix, textField(analyzerSuffixes, false, false))
	add(fPrefix, textField(analyzerPrefixes, false, false))
	add(fPath, textField(analyzerWords, true, false))
	add(fAnc, keywordField(false, false))
	add(fInode, keywordField(false, false))
	add(fKind, keywordField(true, false))
	add(fExt, keywordField(false, false))
	add(fType, keywordField(false, false))
	add(fMime, storedOnly())
	add(fSize, numericField(true))
	add(fMtime, dateField(true))
	add(fNameSort, keywordField(false, true))
	add(fXattr, textField(analyzerWords, false, true))
	add(fTag, textField(analyzerWords, true, true))
	for _, f := range []string{fCamera, fLens, fArtist, fAlbum, fTitle, fGenre} {
		add(f, textField(analyzerWords, true, true))
	}
	add(fTaken, dateField(true))
	gps := bleve.NewBooleanFieldMapping()
	gps.Store, gps.IncludeInAll, gps.DocValues = true, false, false
	add(fGPS, gps)
	add(fDuration, numericField(true))
	add(fText, textField(analyzerText, true, true))
	add(fExtract, storedOnly())
	add(fFP, keywordField(true, true))
	add(fVer, storedOnly())

	im := bleve.NewIndexMapping()
	im.DefaultMapping = dm
	im.DefaultAnalyzer = analyzerWords
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false
	return im
}

// fpPending is the fingerprint of a document whose content is still to
// be extracted.
const fpPending = "pending"
